//===- kernels.cpp - CPU kernels of the Steerling forward -----------------===//
#include "steer/exec/kernels.h"

#include "kernels_isa.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace steer::kernels {

#if defined(__x86_64__)
// kernels_amx.cpp (compiled with AMX enabled; x86-64 only).
bool amxUsable();
void linearAmxBf16(const float *x, int64_t m, int64_t k, const uint16_t *w,
                   int64_t n, float *y, int64_t ldy, int threads);
#endif

namespace {

int gThreads = 0;

bool cpuHas(Isa isa) {
  switch (isa) {
  case Isa::kPortable:
    return true;
#if defined(__x86_64__)
  case Isa::kAvx2:
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  case Isa::kAvx512:
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && cpuHas(Isa::kAvx2);
  case Isa::kAmx:
    return cpuHas(Isa::kAvx512) && amxUsable();
#endif
  default:
    return false;
  }
}

const isa::Table &tableFor(Isa i) {
#if defined(__x86_64__)
  if (i == Isa::kAvx512 || i == Isa::kAmx)
    return isa::avx512::table();
  if (i == Isa::kAvx2)
    return isa::avx2::table();
#endif
  (void)i;
  return isa::portable::table();
}

Isa bestIsa() {
  for (Isa i : {Isa::kAmx, Isa::kAvx512, Isa::kAvx2})
    if (cpuHas(i))
      return i;
  return Isa::kPortable;
}

/// The path in use: STEER_ISA when it names one this CPU runs (an invalid
/// value is reported by isaFromEnvironment(), which the CPU device calls
/// before any kernel runs), otherwise the widest.
struct Active {
  Isa isa;
  const isa::Table *table;
};
Active &active() {
  static Active a = [] {
    Isa i = defaultIsa();
    return Active{i, &tableFor(i)};
  }();
  return a;
}

const isa::Table &kt() { return *active().table; }

void widen(const void *src, DType t, int64_t n, float *out) {
  if (t == DType::kF32)
    std::memcpy(out, src, n * sizeof(float));
  else if (t == DType::kBF16)
    kt().widenBf16(static_cast<const uint16_t *>(src), n, out);
  else
    kt().widenF16(static_cast<const uint16_t *>(src), n, out);
}

const void *rowPtr(WeightRef w, int64_t k, int64_t row) {
  return static_cast<const uint8_t *>(w.data) + row * k * dtypeSize(w.dtype);
}

} // namespace

const char *isaName(Isa i) {
  switch (i) {
  case Isa::kPortable:
    return "portable";
  case Isa::kAvx2:
    return "avx2";
  case Isa::kAvx512:
    return "avx512";
  case Isa::kAmx:
    return "amx";
  }
  return "?";
}

std::vector<Isa> supportedIsas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kAmx, Isa::kAvx512, Isa::kAvx2, Isa::kPortable})
    if (cpuHas(i))
      out.push_back(i);
  return out;
}

StatusOr<Isa> parseIsa(std::string_view name) {
  std::string here;
  for (Isa i : supportedIsas())
    here += std::string(here.empty() ? "" : ", ") + isaName(i);
  for (Isa i : {Isa::kAmx, Isa::kAvx512, Isa::kAvx2, Isa::kPortable})
    if (name == isaName(i)) {
      if (!cpuHas(i))
        return makeError(StatusCode::kUnsupported, "STEER_ISA=", name,
                         ": this CPU cannot run the ", name,
                         " path; it runs: ", here);
      return i;
    }
  // The value as given, cut short and with bytes outside printable ASCII
  // escaped: it is an environment variable, anything can be in it.
  std::string shown;
  for (size_t i = 0; i < name.size() && i < 32; ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f) {
      shown += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      shown += hex;
    }
  }
  if (name.size() > 32)
    shown += "... (" + std::to_string(name.size()) + " bytes)";
  return makeError(StatusCode::kInvalidArgument, "STEER_ISA=", shown,
                   ": not a kernel path; use one of amx, avx512, avx2, "
                   "portable (this CPU runs: ",
                   here, ")");
}

StatusOr<Isa> isaFromEnvironment() {
  const char *env = std::getenv("STEER_ISA");
  if (!env || !*env)
    return bestIsa();
  return parseIsa(env);
}

Isa activeIsa() { return active().isa; }

Isa defaultIsa() {
  auto env = isaFromEnvironment();
  return env.ok() ? *env : bestIsa();
}

void setActiveIsa(Isa i) {
  if (!cpuHas(i))
    i = bestIsa();
  active() = Active{i, &tableFor(i)};
}

PackedWeights::PackedWeights(WeightRef w, int64_t n, int64_t k) : n_(n), k_(k) {
  bf16_ = w.dtype == DType::kBF16;
  const int64_t panels = (n + isa::kPanel - 1) / isa::kPanel;
  const size_t elem = bf16_ ? 2 : 4;
  const size_t bytes = static_cast<size_t>(panels * isa::kPanel * k) * elem;
  // Large copies on 2 MiB boundaries, as transparent huge pages where the
  // kernel allows them: one fault per 2 MiB instead of per 4 KiB (faults
  // cost microseconds each in a virtual machine), and fewer TLB misses in
  // the product.
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  data_.reset(static_cast<uint8_t *>(
      std::aligned_alloc(align, (bytes + align - 1) / align * align)));
#if defined(MADV_HUGEPAGE)
  if (data_ && align == kHuge)
    madvise(data_.get(), (bytes + align - 1) / align * align, MADV_HUGEPAGE);
#endif
  if (!data_)
    return;
  const int nt = n * k < (int64_t(1) << 20) ? 1 : threads();
  // Column c of panel p is row j = 16p + c of w. Each panel is written in
  // order ([k][16]) from its 16 source rows read side by side.
  auto packAs = [&](auto *dst, const auto *src) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(dst)>>;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < panels; ++p) {
      T *panel = dst + p * k * isa::kPanel;
      const T *rows[isa::kPanel];
      for (int64_t c = 0; c < isa::kPanel; ++c) {
        const int64_t j = p * isa::kPanel + c;
        rows[c] = j < n ? src + j * k : nullptr;
      }
      if (p * isa::kPanel + isa::kPanel <= n) {
        for (int64_t t = 0; t < k; ++t)
          for (int64_t c = 0; c < isa::kPanel; ++c)
            panel[t * isa::kPanel + c] = rows[c][t];
      } else {
        for (int64_t t = 0; t < k; ++t)
          for (int64_t c = 0; c < isa::kPanel; ++c)
            panel[t * isa::kPanel + c] = rows[c] ? rows[c][t] : T(0);
      }
    }
  };
  if (bf16_) {
    packAs(reinterpret_cast<uint16_t *>(data_.get()),
           static_cast<const uint16_t *>(w.data));
  } else if (w.dtype == DType::kF32) {
    packAs(reinterpret_cast<float *>(data_.get()),
           static_cast<const float *>(w.data));
  } else {
    // f16: widened to f32 first (one row at a time), then packed.
    std::vector<float> wide(static_cast<size_t>(n * k));
    const auto *src = static_cast<const uint16_t *>(w.data);
    for (int64_t j = 0; j < n; ++j)
      kt().widenF16(src + j * k, k, wide.data() + j * k);
    packAs(reinterpret_cast<float *>(data_.get()),
           static_cast<const float *>(wide.data()));
  }
}

size_t PackedWeights::bytes() const {
  const int64_t panels = (n_ + isa::kPanel - 1) / isa::kPanel;
  return static_cast<size_t>(panels * isa::kPanel * k_) * (bf16_ ? 2 : 4);
}

namespace {

/// The first n outputs (n <= pw.rows()).
void linearPacked(const float *x, int64_t m, int64_t k, int64_t n,
                  const PackedWeights &pw, float *y, int64_t ldy) {
  const int64_t panels = (n + isa::kPanel - 1) / isa::kPanel;
  // Small products run on one thread: waking the pool costs more than it
  // saves. Each output is the same multiply-add chain whichever thread
  // computes it, so the split never changes a value.
  const int nt =
      m * n * k < (int64_t(1) << 20)
          ? 1
          : std::max(1, std::min<int>(threads(),
                                      static_cast<int>((panels + 1) / 2)));
  const isa::Table &t = kt();
#pragma omp parallel num_threads(nt)
  {
    const int id = omp_get_thread_num(), cnt = omp_get_num_threads();
    // Even panel boundaries: the AVX-512 tile covers two panels.
    const int64_t pairs = (panels + 1) / 2;
    const int64_t p0 = std::min(panels, pairs * id / cnt * 2),
                  p1 = std::min(panels, pairs * (id + 1) / cnt * 2);
    if (p0 < p1) {
      if (pw.isBf16())
        t.gemmBf16(x, m, k, static_cast<const uint16_t *>(pw.data()), n, p0,
                   p1, y, ldy);
      else
        t.gemmF32(x, m, k, static_cast<const float *>(pw.data()), n, p0, p1,
                  y, ldy);
    }
  }
}

} // namespace

namespace {
/// OMP_NUM_THREADS is input too: 65536 threads crash the process (each
/// needs a stack) and 2^31 exhaust memory inside libgomp. Before any
/// parallel region runs, the team size is bounded to 4x the processors,
/// with a note when that changes what was asked.
int boundedDefaultThreads() {
  const int procs = std::max(1, omp_get_num_procs());
  const int asked = omp_get_max_threads();
  const int bound = 4 * procs;
  if (asked > bound) {
    std::fprintf(stderr,
                 "steer: note: %d OpenMP threads asked for "
                 "(OMP_NUM_THREADS); using %d, 4x this machine's %d "
                 "processors\n",
                 asked, bound, procs);
    omp_set_num_threads(bound);
  }
  return std::min(std::max(1, asked), bound);
}
const int kDefaultThreads = boundedDefaultThreads();
} // namespace

void setThreads(int t) { gThreads = t; }
int threads() {
  // OpenMP's default honours OMP_NUM_THREADS (all cores when unset), so
  // two processes can share the machine without oversubscribing it.
  if (gThreads <= 0)
    gThreads = kDefaultThreads;
  return gThreads;
}

void loadRow(WeightRef w, int64_t k, int64_t row, float *out) {
  widen(rowPtr(w, k, row), w.dtype, k, out);
}

namespace {
/// Whether bf16 weights [n, k] go to the matrix unit. Small layers (k < 256
/// with fewer than 8192 rows, or n * k < 2^18) stay on the vector path:
/// tile setup and packing cost more than they save there (measured on the
/// tiny preset, whose steps got 2x slower on AMX); a narrow lm_head (k 64
/// or 128, 100281 rows) gains.
bool amxShape(DType dtype, int64_t n, int64_t k) {
  return dtype == DType::kBF16 && k % 32 == 0 &&
         (k >= 256 ? n * k >= (int64_t(1) << 18) : n >= 8192);
}
} // namespace

const char *linearVariant(DType dtype, int64_t n, int64_t k, bool matrixUnit) {
  if (matrixUnit && amxShape(dtype, n, k))
    return "amx_bf16";
  switch (dtype) {
  case DType::kBF16:
    return "fma_bf16";
  case DType::kF16:
    return "fma_f16";
  default:
    return "fma_f32";
  }
}

void linear(const float *x, int64_t m, int64_t k, WeightRef w, int64_t n,
            float *y, int64_t ldy, const PackedWeights *packed) {
  if (m <= 0 || n <= 0)
    return;
  // The choice depends only on the path and the shape, never on the row
  // count, so a row's value is the same in every call.
#if defined(__x86_64__)
  if (activeIsa() == Isa::kAmx && amxShape(w.dtype, n, k)) {
    int nt = m * n * k < (int64_t(1) << 22) ? 1 : threads();
    linearAmxBf16(x, m, k, static_cast<const uint16_t *>(w.data), n, y, ldy,
                  nt);
    return;
  }
#endif
  if (packed && packed->rows() >= n && packed->cols() == k) {
    linearPacked(x, m, k, n, *packed, y, ldy);
    return;
  }
  PackedWeights once(w, n, k);
  if (!once.ok()) {
    std::fprintf(stderr, "steer: out of memory packing a [%lld, %lld] weight\n",
                 static_cast<long long>(n), static_cast<long long>(k));
    std::abort();
  }
  linearPacked(x, m, k, n, once, y, ldy);
}

bool linearUsesPacked(DType dtype, int64_t n, int64_t k) {
  return !(activeIsa() == Isa::kAmx && amxShape(dtype, n, k));
}

float dot(const float *a, const float *b, int64_t n) {
  return kt().dot(a, b, n);
}

float sumExp(const float *x, int64_t n, float shift) {
  return kt().sumExp(x, n, shift);
}

float maxValue(const float *x, int64_t n) { return kt().maxValue(x, n); }

int64_t argMax(const float *x, int64_t n) {
  const float best = maxValue(x, n);
  for (int64_t i = 0; i < n; ++i)
    if (x[i] == best)
      return i;
  return 0;
}

void axpy(float a, const float *x, float *y, int64_t n) {
  kt().axpy(a, x, y, n);
}

void siluMul(const float *gate, const float *up, float *out, int64_t n) {
  kt().siluMul(gate, up, out, n);
}

void rmsNorm(float *x, int64_t m, int64_t d, int64_t stride, WeightRef weight,
             double eps) {
  std::vector<float> wv(d);
  widen(weight.data, weight.dtype, d, wv.data());
  const isa::Table &t = kt();
  for (int64_t i = 0; i < m; ++i) {
    float *row = x + i * stride;
    // Mean of squares in float32 as the reference (x.float().pow(2).mean()).
    float ss = t.dot(row, row, d);
    float inv =
        1.0f / std::sqrt(ss / static_cast<float>(d) + static_cast<float>(eps));
    for (int64_t j = 0; j < d; ++j)
      row[j] = wv[j] * (row[j] * inv);
  }
}

void rope(float *x, int64_t heads, int64_t hd, int64_t pos,
          const float *invFreq) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; ++i) {
    // The reference builds freqs = pos * inv_freq in float32, then sin/cos.
    float f = static_cast<float>(pos) * invFreq[i];
    float c = std::cos(f), s = std::sin(f);
    for (int64_t h = 0; h < heads; ++h) {
      float *p = x + h * hd;
      float a = p[i], b = p[i + half];
      p[i] = a * c - b * s;
      p[i + half] = b * c + a * s;
    }
  }
}

void blockCausalAttention(const float *q, const float *k, const float *v,
                          int64_t r0, int64_t r1, int64_t total, int64_t block,
                          int64_t nHead, int64_t nKv, int64_t hd, float *out) {
  const int64_t rows = r1 - r0, group = nHead / nKv;
  const int64_t qStride = nHead * hd, kvStride = nKv * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  int nt = std::max(
      1, std::min<int>(threads(), static_cast<int>(rows * nHead / 4 + 1)));
#pragma omp parallel num_threads(nt)
  {
    std::vector<float> scores(total);
    const isa::Table &t = kt();
#pragma omp for schedule(static)
    for (int64_t task = 0; task < rows * nHead; ++task) {
      const int64_t i = task / nHead, h = task % nHead, kvh = h / group;
      const int64_t qpos = r0 + i;
      const int64_t kEnd = std::min(total, (qpos / block + 1) * block);
      t.attend(q + i * qStride + h * hd, k + kvh * hd, v + kvh * hd, kEnd,
               kvStride, hd, scale, scores.data(),
               out + i * qStride + h * hd);
    }
  }
}

} // namespace steer::kernels
