// JS bindings (contract: lib/native.ts). Everything in this file runs on the JS thread
// of the calling environment (main thread or a worker_threads Worker), except
// JobWorker::Execute, which runs on a libuv pool thread and touches only plain structs.
#include <fcntl.h>
#include <napi.h>

#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#include "cache.h"
#include "classify.h"
#include "crc32c.h"
#include "deflate.h"
#include "image.h"
#include "status.h"

namespace {

// Per-environment state: each worker thread loading the addon gets its own, so the
// error class of one isolate is never used from another.
struct AddonData {
  Napi::FunctionReference errorClass;
};

// A PagepressError(message, code, {offset, page}); a plain Error with .code before init().
Napi::Value MakeError(Napi::Env env, const pp::Error& e) {
  Napi::String msg = Napi::String::New(env, e.message);
  Napi::String code = Napi::String::New(env, pp::StatusCode(e.status));
  Napi::Object ctx = Napi::Object::New(env);
  if (e.offset >= 0) ctx.Set("offset", Napi::Number::New(env, static_cast<double>(e.offset)));
  if (e.page >= 0) ctx.Set("page", Napi::Number::New(env, static_cast<double>(e.page)));
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data && !data->errorClass.IsEmpty()) return data->errorClass.New({msg, code, ctx});
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", code);
  if (e.offset >= 0) err.Set("offset", ctx.Get("offset"));
  return err.Value();
}

[[noreturn]] void Throw(Napi::Env env, const pp::Error& e) { throw Napi::Error(env, MakeError(env, e)); }

__attribute__((format(printf, 2, 3))) [[noreturn]] void ThrowArg(Napi::Env env, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  pp::Error e;
  e.status = pp::Status::ARG;
  e.message = buf;
  Throw(env, e);
}

// ---- argument parsing: typed arrays are viewed in place (any backing store, any
// byteOffset), never copied. `keep` collects the objects an async job must reference.

using Keep = std::vector<Napi::Object>;

template <typename T>
struct View {
  T* data = nullptr;
  size_t len = 0;  // elements
  bool present = false;
};

template <typename T>
View<T> GetArray(Napi::Env env, Napi::Value v, const char* name, napi_typedarray_type type, const char* typeName,
                 bool nullable, Keep* keep) {
  View<T> out;
  if (nullable && (v.IsNull() || v.IsUndefined())) return out;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    ThrowArg(env, "%s must be a %s%s", name, typeName, nullable ? " or null" : "");
  auto a = v.As<Napi::TypedArrayOf<T>>();
  out.data = a.Data();
  out.len = a.ElementLength();
  out.present = true;
  if (keep) keep->push_back(a);
  return out;
}

View<uint8_t> GetU8(Napi::Env env, Napi::Value v, const char* name, bool nullable, Keep* keep) {
  return GetArray<uint8_t>(env, v, name, napi_uint8_array, "Uint8Array", nullable, keep);
}

double GetInt(Napi::Env env, Napi::Value v, const char* name, double lo, double hi) {
  if (!v.IsNumber()) ThrowArg(env, "%s must be a number", name);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != std::floor(d))
    ThrowArg(env, "%s = %.17g, expected an integer in %.17g..%.17g", name, d, lo, hi);
  return d;
}

double GetPageSize(Napi::Env env, Napi::Value v) {
  double p = GetInt(env, v, "pageSize", pp::kMinPage, pp::kMaxPage);
  if (!pp::ValidPageSize(p)) ThrowArg(env, "pageSize %g is not a power of two in 512..65536", p);
  return p;
}

Napi::Object GetArgs(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) ThrowArg(info.Env(), "the first argument must be an arguments object");
  return info[0].As<Napi::Object>();
}

pp::EncodeJob ParseEncode(const Napi::CallbackInfo& info, Keep* keep) {
  Napi::Env env = info.Env();
  Napi::Object a = GetArgs(info);
  pp::EncodeJob j;
  auto pages = GetU8(env, a.Get("pages"), "pages", false, keep);
  j.pages = pages.data, j.pagesLen = pages.len;
  auto pfns = GetArray<double>(env, a.Get("pfns"), "pfns", napi_float64_array, "Float64Array", true, keep);
  j.pfns = pfns.data, j.pfnsLen = pfns.len, j.hasPfns = pfns.present;
  if (!pfns.present) j.pfnBase = GetInt(env, a.Get("pfnBase"), "pfnBase", 0, 4503599627370495.0);
  j.pageSize = GetPageSize(env, a.Get("pageSize"));
  auto out = GetU8(env, a.Get("out"), "out", false, keep);
  j.out = out.data, j.outLen = out.len;
  auto cache = GetU8(env, a.Get("cache"), "cache", true, keep);
  j.cache = cache.data, j.cacheLen = cache.len, j.hasCache = cache.present;
  auto stats = GetArray<uint32_t>(env, a.Get("stats"), "stats", napi_uint32_array, "Uint32Array", false, keep);
  j.stats = stats.data, j.statsLen = stats.len;
  Napi::Value inPlace = a.Get("inPlace");
  j.inPlace = inPlace.IsBoolean() && inPlace.As<Napi::Boolean>().Value();
  Napi::Value mayBeDense = a.Get("mayBeDense");
  j.mayBeDense = mayBeDense.IsBoolean() && mayBeDense.As<Napi::Boolean>().Value();
  return j;
}

pp::DecodeJob ParseDecode(const Napi::CallbackInfo& info, Keep* keep) {
  Napi::Env env = info.Env();
  Napi::Object a = GetArgs(info);
  pp::DecodeJob j;
  auto image = GetU8(env, a.Get("image"), "image", false, keep);
  j.image = image.data, j.imageLen = image.len;
  auto out = GetU8(env, a.Get("out"), "out", false, keep);
  j.out = out.data, j.outLen = out.len;
  auto pfns = GetArray<double>(env, a.Get("pfns"), "pfns", napi_float64_array, "Float64Array", true, keep);
  j.pfns = pfns.data, j.pfnsLen = pfns.len, j.hasPfns = pfns.present;
  auto cache = GetU8(env, a.Get("cache"), "cache", true, keep);
  j.cache = cache.data, j.cacheLen = cache.len, j.hasCache = cache.present;
  auto stats = GetArray<uint32_t>(env, a.Get("stats"), "stats", napi_uint32_array, "Uint32Array", false, keep);
  j.stats = stats.data, j.statsLen = stats.len;
  Napi::Value holes = a.Get("zeroPagesAsHoles");
  j.zeroPagesAsHoles = holes.IsBoolean() && holes.As<Napi::Boolean>().Value();
  Napi::Value inPlace = a.Get("inPlace");
  j.inPlace = inPlace.IsBoolean() && inPlace.As<Napi::Boolean>().Value();
  return j;
}

Napi::Function GetCallback(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsFunction()) ThrowArg(info.Env(), "argument %zu must be a callback function", i + 1);
  return info[i].As<Napi::Function>();
}

// ---- async: the job (plain struct, captured by value) runs in Execute on the pool;
// the references in `keep_` hold every buffer it points into until OnOK.
using Job = std::function<bool(uint64_t*, pp::Error*)>;

class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Function cb, const char* name, Job job, Keep& keep)
      : Napi::AsyncWorker(cb, name), job_(std::move(job)) {
    for (auto& o : keep) keep_.push_back(Napi::Persistent(o));
  }
  void Execute() override { ok_ = job_(&result_, &err_); }  // pool thread
  void OnOK() override {                                    // JS thread
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (ok_)
      Callback().Call({env.Null(), Napi::Number::New(env, static_cast<double>(result_))});
    else
      Callback().Call({MakeError(env, err_)});
  }

 private:
  Job job_;
  std::vector<Napi::ObjectReference> keep_;
  uint64_t result_ = 0;
  pp::Error err_;
  bool ok_ = false;
};

void Queue(const Napi::CallbackInfo& info, size_t cbIndex, const char* name, Job job, Keep& keep) {
  Napi::Function cb = GetCallback(info, cbIndex);
  (new JobWorker(cb, name, std::move(job), keep))->Queue();  // deletes itself when done
}

// ---- exports

Napi::Value Init(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowArg(info.Env(), "init expects the PagepressError class");
  info.Env().GetInstanceData<AddonData>()->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// pipeSize(fd, bytes): grows a pipe's buffer (Linux F_SETPIPE_SZ; the kernel rounds up to
// a power of two and caps it at /proc/sys/fs/pipe-max-size for non-root). A 64 KiB pipe
// costs one read and one wake-up per 16 pages on each side. Returns the new size, or -1
// when `fd` is not a pipe or the platform has no such call.
Napi::Value PipeSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(GetInt(env, info[0], "fd", 0, 2147483647.0));
  int bytes = static_cast<int>(GetInt(env, info[1], "bytes", 4096, 1073741824.0));
#if defined(F_SETPIPE_SZ)
  int r = fcntl(fd, F_SETPIPE_SZ, bytes);
  if (r < 0) r = fcntl(fd, F_GETPIPE_SZ);
  return Napi::Number::New(env, r);
#else
  (void)fd, (void)bytes;
  return Napi::Number::New(env, -1);
#endif
}

Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = GetU8(env, info[0], "buf", false, nullptr);
  double seed = info[1].IsUndefined() ? 0 : GetInt(env, info[1], "seed", 0, 4294967295.0);
  return Napi::Number::New(env, pp::Crc32c(buf.data, buf.len, static_cast<uint32_t>(seed)));
}

Napi::Value ImageBound(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double n = GetInt(env, info[0], "pageCount", 0, 4096);
  double p = GetPageSize(env, info[1]);
  return Napi::Number::New(env,
                           static_cast<double>(pp::ImageBound(static_cast<uint64_t>(n), static_cast<uint32_t>(p))));
}

Napi::Value CacheBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double slots = GetInt(env, info[0], "slots", 0, static_cast<double>(pp::kMaxCacheSlots));
  double p = GetPageSize(env, info[1]);
  return Napi::Number::New(env,
                           static_cast<double>(pp::CacheBytes(static_cast<uint64_t>(slots), static_cast<uint32_t>(p))));
}

Napi::Value CacheInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cache = GetU8(env, info[0], "cache", false, nullptr);
  double p = GetPageSize(env, info[1]);
  if (cache.len < pp::kCacheHeader)
    ThrowArg(env, "cache has %zu bytes, expected at least cacheBytes(0, pageSize) = 64", cache.len);
  pp::CacheInit(cache.data, cache.len, static_cast<uint32_t>(p));
  return env.Undefined();
}

Napi::Value CachePrefault(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object a = GetArgs(info);
  auto cache = GetU8(env, a.Get("cache"), "cache", false, nullptr);
  auto pfns = GetArray<double>(env, a.Get("pfns"), "pfns", napi_float64_array, "Float64Array", true, nullptr);
  double base = pfns.present ? 0 : GetInt(env, a.Get("pfnBase"), "pfnBase", 0, 4503599627370495.0);
  double count = GetInt(env, a.Get("count"), "count", 0, static_cast<double>(pp::kMaxPages));
  double p = GetPageSize(env, a.Get("pageSize"));
  if (pfns.present && pfns.len < count) ThrowArg(env, "pfns has %zu entries, expected at least %g", pfns.len, count);
  pp::Cache c;
  pp::Error e;
  if (!pp::CacheOpen(cache.data, cache.len, static_cast<uint32_t>(p), &c, &e)) Throw(env, e);
  pp::CachePrefault(c, pfns.data, base, static_cast<size_t>(count));
  return env.Undefined();
}

Napi::Value EncodeBatchSync(const Napi::CallbackInfo& info) {
  pp::EncodeJob j = ParseEncode(info, nullptr);
  uint64_t len;
  pp::Error e;
  if (!pp::EncodeBatch(j, &len, &e)) Throw(info.Env(), e);
  return Napi::Number::New(info.Env(), static_cast<double>(len));
}

Napi::Value EncodeBatchAsync(const Napi::CallbackInfo& info) {
  Keep keep;
  pp::EncodeJob j = ParseEncode(info, &keep);
  Queue(
      info, 1, "pagepress:encodeBatch", [j](uint64_t* r, pp::Error* e) { return pp::EncodeBatch(j, r, e); }, keep);
  return info.Env().Undefined();
}

Napi::Value ImageInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto image = GetU8(env, info[0], "image", false, nullptr);
  pp::ImageInfo h;
  pp::Error e;
  if (!pp::ParseImageHeader(image.data, image.len, &h, &e)) Throw(env, e);
  Napi::Object o = Napi::Object::New(env);
  o.Set("pageSize", Napi::Number::New(env, h.pageSize));
  o.Set("pageCount", Napi::Number::New(env, h.pageCount));
  o.Set("tailBytes", Napi::Number::New(env, h.tailBytes));
  o.Set("payloadLength", Napi::Number::New(env, h.payloadLength));
  o.Set("checksum", Napi::Number::New(env, h.checksum));
  o.Set("imageLength", Napi::Number::New(env, static_cast<double>(h.imageLength)));
  o.Set("byteLength", Napi::Number::New(env, static_cast<double>(h.byteLength)));
  o.Set("headerLength", Napi::Number::New(env, h.headerLength));
  o.Set("pfnRun", Napi::Boolean::New(env, h.pfnRun));
  o.Set("dense", Napi::Boolean::New(env, h.dense));
  return o;
}

Napi::Value DecodeBatchSync(const Napi::CallbackInfo& info) {
  pp::DecodeJob j = ParseDecode(info, nullptr);
  uint64_t len;
  pp::Error e;
  if (!pp::DecodeBatch(j, &len, &e)) Throw(info.Env(), e);
  return Napi::Number::New(info.Env(), static_cast<double>(len));
}

Napi::Value DecodeBatchAsync(const Napi::CallbackInfo& info) {
  Keep keep;
  pp::DecodeJob j = ParseDecode(info, &keep);
  Queue(
      info, 1, "pagepress:decodeBatch", [j](uint64_t* r, pp::Error* e) { return pp::DecodeBatch(j, r, e); }, keep);
  return info.Env().Undefined();
}

struct CodecArgs {
  View<uint8_t> src, dst;
  int level = 0;
};

CodecArgs ParseCodec(const Napi::CallbackInfo& info, bool withLevel, Keep* keep) {
  Napi::Env env = info.Env();
  CodecArgs a;
  a.src = GetU8(env, info[0], "src", false, keep);
  a.dst = GetU8(env, info[1], "dst", false, keep);
  if (withLevel) a.level = static_cast<int>(GetInt(env, info[2], "level", 0, 9));
  return a;
}

bool RunDeflate(const CodecArgs& a, uint64_t* r, pp::Error* e) {
  size_t n;
  if (!pp::Deflate(a.src.data, a.src.len, a.dst.data, a.dst.len, a.level, &n, e)) return false;
  *r = n;
  return true;
}

bool RunInflate(const CodecArgs& a, uint64_t* r, pp::Error* e) {
  if (!pp::Inflate(a.src.data, a.src.len, a.dst.data, a.dst.len, e)) return false;
  *r = a.dst.len;
  return true;
}

Napi::Value DeflateSync(const Napi::CallbackInfo& info) {
  CodecArgs a = ParseCodec(info, true, nullptr);
  uint64_t r;
  pp::Error e;
  if (!RunDeflate(a, &r, &e)) Throw(info.Env(), e);
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

Napi::Value InflateSync(const Napi::CallbackInfo& info) {
  CodecArgs a = ParseCodec(info, false, nullptr);
  uint64_t r;
  pp::Error e;
  if (!RunInflate(a, &r, &e)) Throw(info.Env(), e);
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

Napi::Value DeflateAsync(const Napi::CallbackInfo& info) {
  Keep keep;
  CodecArgs a = ParseCodec(info, true, &keep);
  Queue(
      info, 3, "pagepress:deflate", [a](uint64_t* r, pp::Error* e) { return RunDeflate(a, r, e); }, keep);
  return info.Env().Undefined();
}

Napi::Value InflateAsync(const Napi::CallbackInfo& info) {
  Keep keep;
  CodecArgs a = ParseCodec(info, false, &keep);
  Queue(
      info, 2, "pagepress:inflate", [a](uint64_t* r, pp::Error* e) { return RunInflate(a, r, e); }, keep);
  return info.Env().Undefined();
}

Napi::Value DeflateBound(const Napi::CallbackInfo& info) {
  double n = GetInt(info.Env(), info[0], "length", 0, 4294967295.0);
  return Napi::Number::New(info.Env(), static_cast<double>(pp::DeflateBound(static_cast<uint64_t>(n))));
}

// Runs once per environment (main thread and each worker that loads the addon).
Napi::Object ModuleInit(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());  // deleted by node-addon-api at env teardown
  struct {
    const char* name;
    Napi::Function::Callback fn;
  } fns[] = {
      {"init", Init},
      {"crc32c", Crc32c},
      {"imageBound", ImageBound},
      {"cacheBytes", CacheBytes},
      {"cacheInit", CacheInit},
      {"cachePrefault", CachePrefault},
      {"pipeSize", PipeSize},
      {"encodeBatchSync", EncodeBatchSync},
      {"encodeBatch", EncodeBatchAsync},
      {"imageInfo", ImageInfo},
      {"decodeBatchSync", DecodeBatchSync},
      {"decodeBatch", DecodeBatchAsync},
      {"deflateSync", DeflateSync},
      {"inflateSync", InflateSync},
      {"deflate", DeflateAsync},
      {"inflate", InflateAsync},
      {"deflateBound", DeflateBound},
  };
  for (auto& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  return exports;
}

}  // namespace

NODE_API_MODULE(pagepress, ModuleInit)
