// Use the zlib inside the node binary instead of linking a second copy.
//
// Node builds Chromium's zlib, whose exported symbols carry a `Cr_z_` prefix
// (`nm -D $(which node) | grep Cr_z_deflateInit2_`). The headers Node installs
// (/usr/include/node/zlib.h) declare the plain names, because zconf.h has the
// `#include "chromeconf.h"` that would rename them commented out. So we rename the
// few functions we call ourselves, before <zlib.h> declares them; the references then
// resolve against the already-loaded node executable when the addon is dlopen'ed.
// Only include this header, never <zlib.h> directly.
#pragma once

#define deflateInit2_ Cr_z_deflateInit2_
#define deflate Cr_z_deflate
#define deflateEnd Cr_z_deflateEnd
#define deflateReset Cr_z_deflateReset
#define deflateParams Cr_z_deflateParams
#define deflateBound Cr_z_deflateBound
#define inflateInit2_ Cr_z_inflateInit2_
#define inflate Cr_z_inflate
#define inflateEnd Cr_z_inflateEnd
#define inflateReset Cr_z_inflateReset
#define zlibVersion Cr_z_zlibVersion

#include <zlib.h>
