// eclipse native engine: the thinnest N-API layer over libtorch (ATen + autograd).
// Every function takes positional arguments and returns a new tensor handle; the
// TypeScript side (src/engine) gives them names, types and disposal scopes.
#include <napi.h>
#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <climits>
#include <cstdlib>
#include <malloc.h>
#include <cstring>
#include <string>
#include <vector>

namespace {

// ---------------------------------------------------------------------------
// Handles

// Tensors live in a slot table and JS holds their slot numbers. Disposal frees a slot at once;
// no JS object or finalizer is involved, so memory does not wait for the garbage collector
// or for the event loop (a synchronous training loop stays flat). Seeded generators live the
// same way, freed by Generator.dispose() or by the JS side's FinalizationRegistry, so no native
// finalizer runs while Node tears its environment down (ObjectWrap finalizers there are a known
// source of crashes at exit).
template <typename V>
struct SlotTable {
  std::vector<V> items;
  std::vector<int32_t> freed;
  int32_t Put(V v) {
    if (!freed.empty()) {
      int32_t id = freed.back();
      freed.pop_back();
      items[id] = std::move(v);
      return id;
    }
    items.push_back(std::move(v));
    return static_cast<int32_t>(items.size() - 1);
  }
  bool Has(int64_t id) const { return id >= 0 && id < static_cast<int64_t>(items.size()) && items[id].defined(); }
  void Release(int64_t id) {
    if (!Has(id)) return;
    items[id] = V();
    freed.push_back(static_cast<int32_t>(id));
  }
  double Live() const { return static_cast<double>(items.size() - freed.size()); }
  // The value behind a JS slot number; `what` names it in the errors ("tensor", "generator").
  V& At(const Napi::Value& v, const char* what) {
    if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string("expected a ") + what);
    int64_t id = v.As<Napi::Number>().Int64Value();
    if (!Has(id)) throw Napi::Error::New(v.Env(), std::string(what) + " was disposed");
    return items[id];
  }
};
// Never destroyed: at exit C++ would destroy them after libtorch's lazily made singletons (the
// autograd engine, oneDNN's caches) are gone, and the OS frees the memory anyway.
SlotTable<at::Tensor>& tensors = *new SlotTable<at::Tensor>();
SlotTable<at::Generator>& generators = *new SlotTable<at::Generator>();

Napi::Value Wrap(Napi::Env env, at::Tensor t) { return Napi::Number::New(env, tensors.Put(std::move(t))); }

at::Tensor& T(const Napi::Value& v) { return tensors.At(v, "tensor"); }

c10::optional<at::Tensor> OptT(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return c10::nullopt;
  return T(v);
}

std::vector<int64_t> Ints(const Napi::Value& v) {
  std::vector<int64_t> out;
  if (v.IsNumber()) {
    out.push_back(v.As<Napi::Number>().Int64Value());
    return out;
  }
  Napi::Array a = v.As<Napi::Array>();
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().Int64Value());
  return out;
}

std::vector<at::Tensor> Tensors(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(T(a.Get(i)));
  return out;
}

int64_t I(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }
double D(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
bool B(const Napi::Value& v) { return v.ToBoolean().Value(); }

// dtype codes shared with src/engine/binding.ts
at::ScalarType Dtype(const Napi::Value& v) {
  switch (I(v)) {
    case 0: return at::kFloat;
    case 1: return at::kDouble;
    case 2: return at::kByte;
    case 3: return at::kLong;
    case 4: return at::kBool;
    case 5: return at::kInt;
  }
  throw Napi::TypeError::New(v.Env(), "unknown dtype code");
}
int DtypeCode(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return 0;
    case at::kDouble: return 1;
    case at::kByte: return 2;
    case at::kLong: return 3;
    case at::kBool: return 4;
    case at::kInt: return 5;
    default: return -1;
  }
}

at::Device Dev(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return at::Device(at::kCPU);
  return at::Device(v.As<Napi::String>().Utf8Value());
}

c10::optional<at::Generator> Gen(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return c10::nullopt;
  return generators.At(v, "generator");
}

at::MemoryFormat Format(const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "channels_last") return at::MemoryFormat::ChannelsLast;
  if (s == "contiguous") return at::MemoryFormat::Contiguous;
  if (s == "preserve") return at::MemoryFormat::Preserve;
  throw Napi::TypeError::New(v.Env(), "memory format must be contiguous, channels_last or preserve");
}

// A binary operand is a tensor or a JS number.
bool IsScalar(const Napi::Value& v) { return v.IsNumber() || v.IsBoolean(); }
at::Scalar S(const Napi::Value& v) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  // Integral numbers stay integral, so int64 tensors keep their dtype (as Python ints do).
  double d = D(v);
  if (std::nearbyint(d) == d && std::abs(d) < 9.0e15) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

// libtorch errors carry a long C++ backtrace; JS users need the first line only.
std::string Short(const std::string& msg) {
  size_t cut = msg.find("\nException raised from");
  return cut == std::string::npos ? msg : msg.substr(0, cut);
}

#define FN(name) Napi::Value name##_impl(const Napi::CallbackInfo& info, Napi::Env env); \
  Napi::Value name(const Napi::CallbackInfo& info) { \
    Napi::Env env = info.Env(); \
    try { return name##_impl(info, env); } \
    catch (const Napi::Error&) { throw; } \
    catch (const c10::Error& e) { throw Napi::Error::New(env, Short(e.what_without_backtrace())); } \
    catch (const std::exception& e) { throw Napi::Error::New(env, Short(e.what())); } \
  } \
  Napi::Value name##_impl(const Napi::CallbackInfo& info, Napi::Env env)

#define R(expr) return Wrap(env, (expr))
#define A0 T(info[0])
#define A1 T(info[1])

// ---------------------------------------------------------------------------
// Handles, metadata, conversion

FN(dispose) {
  tensors.Release(I(info[0]));
  return env.Undefined();
}
FN(isDefined) { return Napi::Boolean::New(env, tensors.Has(I(info[0]))); }
FN(liveSlots) { return Napi::Number::New(env, tensors.Live()); }
FN(shape) {
  auto sizes = A0.sizes();
  Napi::Array a = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) a.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  return a;
}
FN(dtype) { return Napi::Number::New(env, DtypeCode(A0.scalar_type())); }
FN(device) { return Napi::String::New(env, A0.device().str()); }
FN(requiresGrad) { return Napi::Boolean::New(env, A0.requires_grad()); }
FN(isContiguous) { return Napi::Boolean::New(env, A0.is_contiguous(Format(info[1]))); }
FN(numel) { return Napi::Number::New(env, static_cast<double>(A0.numel())); }

// fromBuffer(typedArray, shape, dtype, device)
FN(fromBuffer) {
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  std::vector<int64_t> shape = Ints(info[1]);
  at::ScalarType dt = Dtype(info[2]);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  size_t esz = c10::elementSize(dt);
  if (static_cast<size_t>(n) * esz != ta.ByteLength())
    throw Napi::RangeError::New(env, "buffer has " + std::to_string(ta.ByteLength()) + " bytes but shape needs " +
                                         std::to_string(n * esz));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
  uint8_t* src = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (n > 0) std::memcpy(t.data_ptr(), src, n * esz);
  at::Device d = Dev(info[3]);
  if (!d.is_cpu()) t = t.to(d);
  R(t);
}

// toBuffer(t) -> ArrayBuffer of the contiguous CPU data
FN(toBuffer) {
  at::Tensor t = A0.detach().to(at::kCPU).contiguous();
  size_t bytes = t.numel() * t.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, bytes);
  if (bytes) std::memcpy(buf.Data(), t.data_ptr(), bytes);
  return buf;
}
FN(item) {
  at::Tensor t = A0;
  if (t.numel() != 1) throw Napi::RangeError::New(env, "item() needs a tensor with one element, got " + std::to_string(t.numel()));
  return Napi::Number::New(env, t.item<double>());
}

// ---------------------------------------------------------------------------
// Creation and randomness

FN(zeros) { R(at::zeros(Ints(info[0]), at::TensorOptions().dtype(Dtype(info[1])).device(Dev(info[2])))); }
FN(ones) { R(at::ones(Ints(info[0]), at::TensorOptions().dtype(Dtype(info[1])).device(Dev(info[2])))); }
FN(full) { R(at::full(Ints(info[0]), S(info[1]), at::TensorOptions().dtype(Dtype(info[2])).device(Dev(info[3])))); }
FN(arange) { R(at::arange(S(info[0]), S(info[1]), S(info[2]), at::TensorOptions().dtype(Dtype(info[3])).device(Dev(info[4])))); }
FN(linspace) { R(at::linspace(S(info[0]), S(info[1]), I(info[2]), at::TensorOptions().dtype(Dtype(info[3])).device(Dev(info[4])))); }
FN(eye) { R(at::eye(I(info[0]), at::TensorOptions().dtype(Dtype(info[1])).device(Dev(info[2])))); }
FN(zerosLike) { R(at::zeros_like(A0)); }
FN(onesLike) { R(at::ones_like(A0)); }
FN(fullLike) { R(at::full_like(A0, S(info[1]))); }

// A seeded generator samples on the CPU and moves the result, so a seed gives the same
// numbers on every device.
at::Tensor Placed(at::Tensor t, const at::Device& d) { return d.is_cpu() ? t : t.to(d); }

FN(newGenerator) { return Napi::Number::New(env, generators.Put(at::detail::createCPUGenerator(static_cast<uint64_t>(I(info[0]))))); }
FN(disposeGenerator) {
  generators.Release(I(info[0]));
  return env.Undefined();
}
FN(liveGenerators) { return Napi::Number::New(env, generators.Live()); }
FN(manualSeed) {
  torch::manual_seed(static_cast<uint64_t>(I(info[0])));
  return env.Undefined();
}
// rand(shape, dtype, device, gen)
FN(rand) {
  auto g = Gen(info[3]);
  at::Device d = Dev(info[2]);
  auto opts = at::TensorOptions().dtype(Dtype(info[1]));
  if (g) R(Placed(at::rand(Ints(info[0]), g, opts), d));
  R(at::rand(Ints(info[0]), opts.device(d)));
}
FN(randn) {
  auto g = Gen(info[3]);
  at::Device d = Dev(info[2]);
  auto opts = at::TensorOptions().dtype(Dtype(info[1]));
  if (g) R(Placed(at::randn(Ints(info[0]), g, opts), d));
  R(at::randn(Ints(info[0]), opts.device(d)));
}
// randint(low, high, shape, device, gen) -> int64
FN(randint) {
  auto g = Gen(info[4]);
  at::Device d = Dev(info[3]);
  auto opts = at::TensorOptions().dtype(at::kLong);
  if (g) R(Placed(at::randint(I(info[0]), I(info[1]), Ints(info[2]), g, opts), d));
  R(at::randint(I(info[0]), I(info[1]), Ints(info[2]), opts.device(d)));
}
FN(randperm) {
  auto g = Gen(info[2]);
  at::Device d = Dev(info[1]);
  auto opts = at::TensorOptions().dtype(at::kLong);
  if (g) R(Placed(at::randperm(I(info[0]), g, opts), d));
  R(at::randperm(I(info[0]), opts.device(d)));
}
// bernoulli(t of probabilities, gen)
FN(bernoulli) {
  auto g = Gen(info[1]);
  if (g && !A0.device().is_cpu()) R(Placed(at::bernoulli(A0.to(at::kCPU), g), A0.device()));
  R(at::bernoulli(A0, g));
}

// ---------------------------------------------------------------------------
// Conversion, views and indexing

FN(to) {
  // to(t, dtype|null, device|null)
  at::Tensor t = A0;
  if (!info[1].IsNull() && !info[1].IsUndefined()) t = t.to(Dtype(info[1]));
  if (!info[2].IsNull() && !info[2].IsUndefined()) t = t.to(Dev(info[2]));
  R(t);
}
FN(contiguous) { R(A0.contiguous(Format(info[1]))); }
FN(clone) { R(A0.clone(at::MemoryFormat::Preserve)); }
FN(detach) { R(A0.detach()); }
FN(reshape) { R(A0.reshape(Ints(info[1]))); }
FN(view) { R(A0.view(Ints(info[1]))); }
FN(permute) { R(A0.permute(Ints(info[1]))); }
FN(transpose) { R(A0.transpose(I(info[1]), I(info[2]))); }
FN(flatten) { R(A0.flatten(I(info[1]), I(info[2]))); }
FN(unsqueeze) { R(A0.unsqueeze(I(info[1]))); }
FN(squeeze) { R(info[1].IsUndefined() ? A0.squeeze() : A0.squeeze(I(info[1]))); }
FN(expand) { R(A0.expand(Ints(info[1]))); }
FN(repeat) { R(A0.repeat(Ints(info[1]))); }
FN(narrow) { R(A0.narrow(I(info[1]), I(info[2]), I(info[3]))); }
FN(slice) { R(A0.slice(I(info[1]), I(info[2]), I(info[3]), I(info[4]))); }
FN(select) { R(A0.select(I(info[1]), I(info[2]))); }
FN(indexSelect) { R(A0.index_select(I(info[1]), T(info[2]))); }
FN(gather) { R(A0.gather(I(info[1]), T(info[2]))); }
FN(maskedFill) { R(A0.masked_fill(T(info[1]), S(info[2]))); }
FN(maskedSelect) { R(A0.masked_select(T(info[1]))); }
FN(flip) { R(A0.flip(Ints(info[1]))); }
FN(roll) { R(A0.roll(Ints(info[1]), Ints(info[2]))); }
FN(cat) { R(at::cat(Tensors(info[0]), I(info[1]))); }
FN(stack) { R(at::stack(Tensors(info[0]), I(info[1]))); }
FN(split) {
  auto parts = A0.split(I(info[1]), I(info[2]));
  Napi::Array a = Napi::Array::New(env, parts.size());
  for (size_t i = 0; i < parts.size(); i++) a.Set(i, Wrap(env, parts[i]));
  return a;
}
FN(chunk) {
  auto parts = A0.chunk(I(info[1]), I(info[2]));
  Napi::Array a = Napi::Array::New(env, parts.size());
  for (size_t i = 0; i < parts.size(); i++) a.Set(i, Wrap(env, parts[i]));
  return a;
}
// indexPut_(t, index(int64, dim 0), values): t[index] = values
FN(indexCopy_) {
  A0.index_copy_(I(info[1]), T(info[2]), T(info[3]));
  return info[0];
}

// ---------------------------------------------------------------------------
// Elementwise math

#define UNARY(name, method) FN(name) { R(A0.method()); }
UNARY(neg, neg)
UNARY(exp, exp)
UNARY(log, log)
UNARY(sqrt, sqrt)
UNARY(rsqrt, rsqrt)
UNARY(abs, abs)
UNARY(sign, sign)
UNARY(sin, sin)
UNARY(cos, cos)
UNARY(tanh, tanh)
UNARY(sigmoid, sigmoid)
UNARY(relu, relu)
UNARY(floor, floor)
UNARY(ceil, ceil)
UNARY(round, round)
UNARY(log1p, log1p)
UNARY(expm1, expm1)
UNARY(square, square)
UNARY(reciprocal, reciprocal)
UNARY(logicalNot, logical_not)
UNARY(isfinite, isfinite)
FN(silu) { R(at::silu(A0)); }
FN(gelu) { R(at::gelu(A0)); }
FN(leakyRelu) { R(at::leaky_relu(A0, S(info[1]))); }
FN(softplus) { R(at::softplus(A0, S(info[1]), S(info[2]))); }

// Binary ops come in two forms: name(tensor, tensor) and nameS(tensor, scalar). Handles are
// numbers too, so the TypeScript side picks the form.
#define BINARY(name, op) \
  FN(name) { R(op(A0, A1)); } \
  FN(name##S) { R(op(A0, S(info[1]))); }
BINARY(add, at::add)
BINARY(sub, at::sub)
BINARY(mul, at::mul)
BINARY(div, at::div)
BINARY(pow, at::pow)
BINARY(eq, at::eq)
BINARY(ne, at::ne)
BINARY(gt, at::gt)
BINARY(ge, at::ge)
BINARY(lt, at::lt)
BINARY(le, at::le)
BINARY(remainder, at::remainder)
FN(maximum) { R(at::maximum(A0, A1)); }
FN(minimum) { R(at::minimum(A0, A1)); }
FN(logicalAnd) { R(at::logical_and(A0, A1)); }
FN(logicalOr) { R(at::logical_or(A0, A1)); }
FN(atan2) { R(at::atan2(A0, A1)); }

// clamp(t, min|null, max|null) with number bounds; clampT with tensor bounds (ATen's clamp, so
// gradients at the bounds are PyTorch's)
FN(clamp) {
  c10::optional<at::Scalar> lo, hi;
  if (IsScalar(info[1])) lo = S(info[1]);
  if (IsScalar(info[2])) hi = S(info[2]);
  R(at::clamp(A0, lo, hi));
}
FN(clampT) { R(at::clamp(A0, OptT(info[1]), OptT(info[2]))); }
// where(cond, a, b) with tensors (numbers are made scalar tensors on the TypeScript side)
FN(where) { R(at::where(A0, A1, T(info[2]))); }
FN(lerp) { R(at::lerp(A0, A1, S(info[2]))); }

// ---------------------------------------------------------------------------
// In-place updates (optimisers, EMA, buffers). They return the same handle.

#define INPLACE_BIN(name, method) \
  FN(name) { A0.method(A1); return info[0]; } \
  FN(name##S) { A0.method(S(info[1])); return info[0]; }
INPLACE_BIN(add_, add_)
INPLACE_BIN(sub_, sub_)
INPLACE_BIN(mul_, mul_)
INPLACE_BIN(div_, div_)
FN(addScaled_) {  // t += alpha * other
  A0.add_(A1, S(info[2]));
  return info[0];
}
FN(addcmul_) {
  A0.addcmul_(A1, T(info[2]), S(info[3]));
  return info[0];
}
FN(addcdiv_) {
  A0.addcdiv_(A1, T(info[2]), S(info[3]));
  return info[0];
}
FN(lerp_) {
  A0.lerp_(A1, S(info[2]));
  return info[0];
}
FN(copy_) {
  A0.copy_(A1);
  return info[0];
}
FN(zero_) {
  A0.zero_();
  return info[0];
}
FN(fill_) {
  A0.fill_(S(info[1]));
  return info[0];
}
FN(clamp_) {
  c10::optional<at::Scalar> lo, hi;
  if (IsScalar(info[1])) lo = S(info[1]);
  if (IsScalar(info[2])) hi = S(info[2]);
  A0.clamp_(lo, hi);
  return info[0];
}
FN(sqrt_) {
  A0.sqrt_();
  return info[0];
}
FN(normal_) {  // normal_(t, mean, std, gen)
  auto g = Gen(info[3]);
  at::Tensor& t = A0;
  if (g && !t.device().is_cpu()) t.copy_(at::empty(t.sizes(), t.options().device(at::kCPU)).normal_(D(info[1]), D(info[2]), g));
  else t.normal_(D(info[1]), D(info[2]), g);
  return info[0];
}
FN(uniform_) {
  auto g = Gen(info[3]);
  at::Tensor& t = A0;
  if (g && !t.device().is_cpu()) t.copy_(at::empty(t.sizes(), t.options().device(at::kCPU)).uniform_(D(info[1]), D(info[2]), g));
  else t.uniform_(D(info[1]), D(info[2]), g);
  return info[0];
}

// ---------------------------------------------------------------------------
// Reductions. dims: [] means all.

std::vector<int64_t> AllDims(const at::Tensor& t) {
  std::vector<int64_t> d(t.dim());
  for (int64_t i = 0; i < t.dim(); i++) d[i] = i;
  return d;
}

FN(sum) {
  auto dims = Ints(info[1]);
  if (dims.empty()) R(B(info[2]) ? A0.sum(AllDims(A0), true) : A0.sum());
  R(A0.sum(dims, B(info[2])));
}
FN(mean) {
  auto dims = Ints(info[1]);
  if (dims.empty()) R(B(info[2]) ? A0.mean(AllDims(A0), true) : A0.mean());
  R(A0.mean(dims, B(info[2])));
}
FN(amax) { R(A0.amax(Ints(info[1]), B(info[2]))); }
FN(amin) { R(A0.amin(Ints(info[1]), B(info[2]))); }
FN(argmax) { R(A0.argmax(I(info[1]), B(info[2]))); }
FN(argmin) { R(A0.argmin(I(info[1]), B(info[2]))); }
FN(var) {  // var(t, dims, unbiased, keepdim)
  auto dims = Ints(info[1]);
  if (dims.empty()) R(B(info[3]) ? A0.var(AllDims(A0), B(info[2]), true) : A0.var(B(info[2])));
  R(A0.var(dims, B(info[2]), B(info[3])));
}
FN(std_) {
  auto dims = Ints(info[1]);
  if (dims.empty()) R(B(info[3]) ? A0.std(AllDims(A0), B(info[2]), true) : A0.std(B(info[2])));
  R(A0.std(dims, B(info[2]), B(info[3])));
}
FN(norm) {  // norm(t, p, dims, keepdim)
  auto dims = Ints(info[2]);
  if (dims.empty()) R(B(info[3]) ? A0.norm(S(info[1]), AllDims(A0), true) : A0.norm(S(info[1])));
  R(A0.norm(S(info[1]), dims, B(info[3])));
}
FN(logsumexp) { R(A0.logsumexp(Ints(info[1]), B(info[2]))); }
FN(cumsum) { R(A0.cumsum(I(info[1]))); }
FN(allclose) { return Napi::Boolean::New(env, at::allclose(A0, A1, D(info[2]), D(info[3]))); }

// ---------------------------------------------------------------------------
// Linear algebra and neural-network functions

FN(matmul) { R(at::matmul(A0, A1)); }
FN(bmm) { R(at::bmm(A0, A1)); }
FN(linear) { R(at::linear(A0, A1, OptT(info[2]))); }
// A strided 1x1 convolution on the CPU runs as a unit-stride one on the input sampled every
// `stride` pixels (the same sum over the same pixels). Why: oneDNN's weight gradient for a
// strided 1x1 convolution on a channels-last input with fewer input channels than its channel
// block (8 with AVX2, 16 with AVX-512) copies the strided input into a per-thread scratchpad
// that it sizes for ic channels but fills in blocks of ic_block, writing past its end and
// corrupting the heap (Debian's oneDNN 2.6 under libtorch 1.13, and oneDNN 3.x under PyTorch
// 2.x; uxlfoundation/oneDNN#6035). Unit-stride 1x1 convolutions take no such copy.
at::Tensor Conv2d(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b,
                  const std::vector<int64_t>& stride, const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
                  int64_t groups) {
  bool strided = false;
  for (int64_t s : stride) strided = strided || s != 1;
  if (!x.device().is_cpu() || x.dim() != 4 || w.dim() != 4 || w.size(2) != 1 || w.size(3) != 1 || !strided)
    return at::conv2d(x, w, b, stride, padding, dilation, groups);
  // stride and padding come as one value or one per spatial dimension
  int64_t sh = stride[0], sw = stride.size() > 1 ? stride[1] : stride[0];
  int64_t ph = padding.empty() ? 0 : padding[0], pw = padding.size() > 1 ? padding[1] : ph;
  at::Tensor in = (ph || pw) ? at::constant_pad_nd(x, {pw, pw, ph, ph}, 0) : x;
  in = in.slice(2, 0, in.size(2), sh).slice(3, 0, in.size(3), sw);
  const std::vector<int64_t> unit{1, 1}, zero{0, 0};
  return at::conv2d(in, w, b, unit, zero, dilation, groups);
}
// conv2d(x, w, b, stride, padding, dilation, groups)
FN(conv2d) { R(Conv2d(A0, A1, OptT(info[2]), Ints(info[3]), Ints(info[4]), Ints(info[5]), I(info[6]))); }
// maxPool2d(x, kernel, stride, padding, dilation, ceilMode)
FN(maxPool2d) { R(at::max_pool2d(A0, Ints(info[1]), Ints(info[2]), Ints(info[3]), Ints(info[4]), B(info[5]))); }
// avgPool2d(x, kernel, stride, padding, ceilMode, countIncludePad)
FN(avgPool2d) { R(at::avg_pool2d(A0, Ints(info[1]), Ints(info[2]), Ints(info[3]), B(info[4]), B(info[5]))); }
FN(adaptiveAvgPool2d) { R(at::adaptive_avg_pool2d(A0, Ints(info[1]))); }
// batchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps)
FN(batchNorm) {
  R(at::batch_norm(A0, OptT(info[1]), OptT(info[2]), OptT(info[3]), OptT(info[4]), B(info[5]), D(info[6]), D(info[7]),
                   at::globalContext().userEnabledCuDNN()));
}
// groupNorm(x, groups, weight, bias, eps)
FN(groupNorm) {
  R(at::group_norm(A0, I(info[1]), OptT(info[2]), OptT(info[3]), D(info[4]), at::globalContext().userEnabledCuDNN()));
}
// layerNorm(x, normalizedShape, weight, bias, eps)
FN(layerNorm) {
  R(at::layer_norm(A0, Ints(info[1]), OptT(info[2]), OptT(info[3]), D(info[4]), at::globalContext().userEnabledCuDNN()));
}
FN(dropout) { R(at::dropout(A0, D(info[1]), B(info[2]))); }
FN(softmax) { R(at::softmax(A0, I(info[1]))); }
FN(logSoftmax) { R(at::log_softmax(A0, I(info[1]))); }
// crossEntropy(logits, target int64, reduction 0 none 1 mean 2 sum, labelSmoothing)
FN(crossEntropy) { R(at::cross_entropy_loss(A0, A1, c10::nullopt, I(info[2]), -100, D(info[3]))); }
FN(nllLoss) { R(at::nll_loss(A0, A1, c10::nullopt, I(info[2]))); }
FN(mseLoss) { R(at::mse_loss(A0, A1, I(info[2]))); }
// upsampleNearest2d(x, [h, w])
FN(upsampleNearest2d) { R(at::upsample_nearest2d(A0, Ints(info[1]))); }
// upsampleBilinear2d(x, [h, w], alignCorners)
FN(upsampleBilinear2d) { R(at::upsample_bilinear2d(A0, Ints(info[1]), B(info[2]))); }
// pad(x, [left, right, top, bottom, ...], mode 0 constant 1 reflect 2 replicate, value)
FN(pad) {
  auto p = Ints(info[1]);
  if (I(info[2]) != 0 && p.size() != 4)
    throw Napi::RangeError::New(env, "reflect and replicate padding take 4 values [left, right, top, bottom] for a 2-D image");
  switch (I(info[2])) {
    case 0: R(at::constant_pad_nd(A0, p, S(info[3])));
    case 1: R(at::reflection_pad2d(A0, p));
    case 2: R(at::replication_pad2d(A0, p));
  }
  throw Napi::TypeError::New(env, "unknown pad mode");
}
FN(oneHot) { R(at::one_hot(A0, I(info[1]))); }

// ---------------------------------------------------------------------------
// Autograd

FN(setRequiresGrad) {
  A0.requires_grad_(B(info[1]));
  return info[0];
}
FN(grad) {
  const at::Tensor& g = A0.grad();
  if (!g.defined()) return env.Null();
  R(g);
}
FN(zeroGrad) {
  // Drop the gradient (as PyTorch's zero_grad(set_to_none=True)).
  A0.mutable_grad() = at::Tensor();
  return env.Undefined();
}
FN(backward) {
  c10::optional<at::Tensor> g = OptT(info[1]);
  A0.backward(g ? *g : at::Tensor(), B(info[2]));
  return env.Undefined();
}
// autogradGrad(outputs[], inputs[], gradOutputs[]|null, retainGraph, createGraph) -> tensors
FN(autogradGrad) {
  std::vector<at::Tensor> outs = Tensors(info[0]);
  std::vector<at::Tensor> ins = Tensors(info[1]);
  std::vector<at::Tensor> gouts;
  if (info[2].IsArray()) gouts = Tensors(info[2]);
  auto grads = torch::autograd::grad(outs, ins, gouts, B(info[3]), B(info[4]), /*allow_unused=*/true);
  Napi::Array a = Napi::Array::New(env, grads.size());
  for (size_t i = 0; i < grads.size(); i++) a.Set(i, grads[i].defined() ? Wrap(env, grads[i]) : env.Null());
  return a;
}
FN(setGradEnabled) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(B(info[0]));
  return Napi::Boolean::New(env, prev);
}
FN(isGradEnabled) { return Napi::Boolean::New(env, at::GradMode::is_enabled()); }

// ---------------------------------------------------------------------------
// Runtime

FN(setNumThreads) {
  at::set_num_threads(static_cast<int>(I(info[0])));
  return env.Undefined();
}
FN(getNumThreads) { return Napi::Number::New(env, at::get_num_threads()); }
FN(cudaAvailable) { return Napi::Boolean::New(env, torch::cuda::is_available()); }
FN(cudaDeviceCount) { return Napi::Number::New(env, static_cast<double>(torch::cuda::device_count())); }
FN(synchronize) {
#if ECLIPSE_CUDA
  if (torch::cuda::is_available()) torch::cuda::synchronize();
#endif
  return env.Undefined();
}
FN(version) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("torch", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                     std::to_string(TORCH_VERSION_PATCH));
  o.Set("cuda", Napi::Boolean::New(env, ECLIPSE_CUDA != 0));
  o.Set("config", at::show_config());
  return o;
}

#define EXPORT(name) exports.Set(#name, Napi::Function::New(env, name, #name));

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Keep freed tensor buffers in the heap instead of handing them back to the OS: otherwise
  // every step maps fresh pages that the kernel must zero (~170K page faults per ResNet-18
  // width-64 forward pass). Peak memory then stays resident. ECLIPSE_MALLOC_RELEASE=1 opts out.
  const char* release = std::getenv("ECLIPSE_MALLOC_RELEASE");
  if (release == nullptr || std::string(release) != "1") {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
  }
  EXPORT(dispose) EXPORT(isDefined) EXPORT(liveSlots) EXPORT(shape) EXPORT(dtype) EXPORT(device) EXPORT(requiresGrad) EXPORT(isContiguous)
  EXPORT(numel) EXPORT(fromBuffer) EXPORT(toBuffer) EXPORT(item)
  EXPORT(zeros) EXPORT(ones) EXPORT(full) EXPORT(arange) EXPORT(linspace) EXPORT(eye) EXPORT(zerosLike) EXPORT(onesLike)
  EXPORT(fullLike) EXPORT(newGenerator) EXPORT(disposeGenerator) EXPORT(liveGenerators) EXPORT(manualSeed) EXPORT(rand) EXPORT(randn) EXPORT(randint) EXPORT(randperm)
  EXPORT(bernoulli)
  EXPORT(to) EXPORT(contiguous) EXPORT(clone) EXPORT(detach) EXPORT(reshape) EXPORT(view) EXPORT(permute)
  EXPORT(transpose) EXPORT(flatten) EXPORT(unsqueeze) EXPORT(squeeze) EXPORT(expand) EXPORT(repeat) EXPORT(narrow)
  EXPORT(slice) EXPORT(select) EXPORT(indexSelect) EXPORT(gather) EXPORT(maskedFill) EXPORT(maskedSelect) EXPORT(flip)
  EXPORT(roll) EXPORT(cat) EXPORT(stack) EXPORT(split) EXPORT(chunk) EXPORT(indexCopy_)
  EXPORT(neg) EXPORT(exp) EXPORT(log) EXPORT(sqrt) EXPORT(rsqrt) EXPORT(abs) EXPORT(sign) EXPORT(sin) EXPORT(cos)
  EXPORT(tanh) EXPORT(sigmoid) EXPORT(relu) EXPORT(floor) EXPORT(ceil) EXPORT(round) EXPORT(log1p) EXPORT(expm1)
  EXPORT(square) EXPORT(reciprocal) EXPORT(logicalNot) EXPORT(isfinite) EXPORT(silu) EXPORT(gelu) EXPORT(leakyRelu)
  EXPORT(softplus)
  EXPORT(add) EXPORT(sub) EXPORT(mul) EXPORT(div) EXPORT(pow) EXPORT(eq) EXPORT(ne) EXPORT(gt) EXPORT(ge) EXPORT(lt)
  EXPORT(le) EXPORT(remainder) EXPORT(addS) EXPORT(subS) EXPORT(mulS) EXPORT(divS) EXPORT(powS) EXPORT(eqS) EXPORT(neS)
  EXPORT(gtS) EXPORT(geS) EXPORT(ltS) EXPORT(leS) EXPORT(remainderS) EXPORT(clampT) EXPORT(maximum) EXPORT(minimum) EXPORT(logicalAnd) EXPORT(logicalOr) EXPORT(atan2)
  EXPORT(clamp) EXPORT(where) EXPORT(lerp)
  EXPORT(add_) EXPORT(sub_) EXPORT(mul_) EXPORT(div_) EXPORT(add_S) EXPORT(sub_S) EXPORT(mul_S) EXPORT(div_S) EXPORT(addScaled_) EXPORT(addcmul_) EXPORT(addcdiv_) EXPORT(lerp_)
  EXPORT(copy_) EXPORT(zero_) EXPORT(fill_) EXPORT(clamp_) EXPORT(sqrt_) EXPORT(normal_) EXPORT(uniform_)
  EXPORT(sum) EXPORT(mean) EXPORT(amax) EXPORT(amin) EXPORT(argmax) EXPORT(argmin) EXPORT(var) EXPORT(std_) EXPORT(norm)
  EXPORT(logsumexp) EXPORT(cumsum) EXPORT(allclose)
  EXPORT(matmul) EXPORT(bmm) EXPORT(linear) EXPORT(conv2d) EXPORT(maxPool2d) EXPORT(avgPool2d) EXPORT(adaptiveAvgPool2d)
  EXPORT(batchNorm) EXPORT(groupNorm) EXPORT(layerNorm) EXPORT(dropout) EXPORT(softmax) EXPORT(logSoftmax)
  EXPORT(crossEntropy) EXPORT(nllLoss) EXPORT(mseLoss) EXPORT(upsampleNearest2d) EXPORT(upsampleBilinear2d) EXPORT(pad)
  EXPORT(oneHot)
  EXPORT(setRequiresGrad) EXPORT(grad) EXPORT(zeroGrad) EXPORT(backward) EXPORT(autogradGrad) EXPORT(setGradEnabled)
  EXPORT(isGradEnabled)
  EXPORT(setNumThreads) EXPORT(getNumThreads) EXPORT(cudaAvailable) EXPORT(cudaDeviceCount) EXPORT(synchronize)
  EXPORT(version)
  return exports;
}

}  // namespace

NODE_API_MODULE(eclipse_native, Init)
