// SPDX-License-Identifier: Apache-2.0
// Token statistics of full logits rows in one fused pass: log-sum-exp, logprob, entropy, varentropy, top-k.
#pragma once

// The hot path of every logprob-aware strategy: for each generated token of each particle, the
// statistics of a full-vocabulary logits row (150k+ floats) at temperature T:
//   lse = T log sum_v exp(x_v / T),  log p_v = (x_v - lse) / T,
//   H = -sum_v p_v log p_v,  VE = sum_v p_v (log p_v + H)^2 = Var_p[log p].
//
// Algorithm (one read of the row from memory). The row is cut into blocks of `block_floats`
// floats (16 KiB). Per block: (A) the block maximum bm (from L1: the previous block's sweep
// prefetched this one); (B) one sweep over the cached block computes, in the block's own frame,
// u = (x - bm) log2(e) / T <= 0 and e = 2^u with a polynomial exp2, and accumulates in float SIMD
// lanes s0 = sum e, s1 = sum e u, s2 = sum e u^2; (C) in double, the block is moved to the row
// frame (u_row = u + (bm - m) k, weights times 2^((bm - m) k), m the running maximum; the running
// sums are rescaled when a block raises m) and merged: S0 += weight, S1 += weight * mean (S1 =
// sum e u_row is a sum of non-positive terms, so H = ln S0 - ln2 S1/S0 adds two non-negative
// numbers), M2 by Chan's parallel-variance update. Everything is in log2 units until the end.
//
// Why varentropy does not cancel. The naive VE = S2/S0 - (S1/S0)^2 loses every digit when the
// distribution is nearly one-hot or when its mass sits far from the shift point. Here the only
// subtraction of that kind is inside one block, M2 = s2 - s1^2/s0, taken about the block maximum:
// that element is the heaviest of its block and its own terms are exactly zero, so the
// amplification factor s2 / M2 is at most 1 / p(block max | block). For a nearly one-hot row the
// dominant token is its block's centre (factor ~1) and the other blocks' moments are small numbers
// computed directly; across blocks Chan's update adds non-negative terms only.
//
// Kernels: AVX-512 (F + DQ: vreduceps, vscalefps; forms u with one FMA in a frame shifted by the
// exact residual lo = bm k - fl(bm k), and redoes a block in the exact frame when lo's own terms
// could swamp its M2), AVX2 + FMA, and portable C++ (generic compiler vectors: SSE2 on plain
// x86-64, NEON, AVX under -march=native; a scalar loop elsewhere); the SIMD kernels are chosen at
// run time (target attributes and cpuid, so no -m flags are needed, and -m flags do not change
// the choice: to measure the AVX2 kernel on an AVX-512 machine force it, as token_stats_bench
// does), each testable on its own (detail::kernel).
//
// Cost, in vector operations per eight floats (what bounds every kernel once the row streams
// from memory at full speed; counted with valgrind --tool=callgrind and in the generated code):
// AVX2 ~18 (block maximum 1, frame 2, clamp 1, rint and fraction 3, degree-5 Horner 5, exponent
// 2, sums 4), which on a Zen 4 core runs at ~16.5 GB/s from L1, below the ~33 GB/s that core reads
// from memory; AVX-512 needs ~12 per sixteen floats (vreduceps and vscalefps do the rint, the
// fraction and the exponent, degree 4). The portable kernel has the AVX2 kernel's arithmetic in
// generic vectors, without FMA in plain x86-64 builds (SSE2: twice the vectors, and a multiply
// and an add per multiply-add).
//
// Error budget (stated, and checked by tests/numerics/token_stats_test.cpp against a long-double
// two-pass reference on random and adversarial rows): exp2 has relative error <= 3.0e-6 (AVX-512,
// degree 4 on [0, 1)) or <= 2e-7 (AVX2, and portable where the build has FMA; degree 5 on
// [-1/2, 1/2]), <= 2.5e-7 for the portable kernel without FMA (Estrin's scheme in multiplies and
// adds); float lane sums run over at most block_floats / 8 terms (portable; AVX2: block_floats / 16
// sums of two, AVX-512: block_floats / 32 terms) before being folded into double. Tested tolerances: lse and
// every logprob within 1e-5 (lse: 1e-5 T), H within 1e-5 H + 5e-6, VE within 1e-4 VE + 1e-9, and VE
// within 1e-4 relative however small it gets on nearly one-hot rows. Tokens more than 125 bits
// (~87 nats) below the maximum get weight <= 2^-124 instead of exactly zero (an effect below 1e-28
// relative). Masked tokens (-inf) have logprob -inf exactly.

#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <vector>

#if !defined(RECKON_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define RECKON_TOKEN_STATS_X86 1
#include <immintrin.h>
#else
#define RECKON_TOKEN_STATS_X86 0
#endif

namespace reckon {

/// The statistics of one logits row at one temperature. All values are in nats.
struct row_stats {
  double log_sum_exp = 0.0; ///< T log sum_v exp(x_v / T): the plain log-sum-exp at T = 1, max_v x_v at T = 0
  double logprob = std::numeric_limits<double>::quiet_NaN(); ///< log p of the chosen token (NaN when none was given)
  double entropy = 0.0;    ///< H = -sum_v p_v log p_v
  double varentropy = 0.0; ///< VE = sum_v p_v (log p_v + H)^2

  friend bool operator==(const row_stats&, const row_stats&) = default;
};

/// How logits rows are turned into a distribution.
struct token_stats_params {
  /// Softmax temperature: p_v is proportional to exp(x_v / T). Finite and > 0, or exactly 0 for
  /// the greedy limit (uniform over the tokens tied at the maximum, one-hot when the maximum is
  /// unique). Temperatures below log2(e) / FLT_MAX (~4.2e-39) are treated as 0.
  double temperature = 1.0;
};

/// Row-major float matrix, the layout engines use for logits (rows = sequences, cols = vocabulary).
using logits_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace detail {

/// Floats per block of the fused pass (16 KiB: the block is re-read from L1, never from memory).
inline constexpr std::size_t block_floats = 4096;

// exp2 on [-1/2, 1/2]: 1 + c1 f + ... + c5 f^5, fitted for relative error (max 9.2e-8 in exact
// arithmetic, 1.7e-7 evaluated in float with FMA).
inline constexpr float exp2_c1 = 0.693147004f;
inline constexpr float exp2_c2 = 0.240222424f;
inline constexpr float exp2_c3 = 0.0555073358f;
inline constexpr float exp2_c4 = 0.00967151299f;
inline constexpr float exp2_c5 = 0.00132647273f;
// Exponents below this are clamped, so that 2^round(u) * p stays a normal float (2^-125 * 0.7 >
// 2^-126) and the exponent-field trick stays exact; this also maps -inf (a masked token) to a finite
// value, so that e * u never forms 0 * inf.
inline constexpr float exp2_floor = -125.0f;
// Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer held in the low mantissa bits.
inline constexpr float round_magic = 12582912.0f;

/// 2^u for u in [exp2_floor, 0] (or NaN): the scalar twin of the SIMD kernels' exp2, bit for bit.
[[nodiscard]] inline float exp2_poly(float u) noexcept {
  const float t = u + round_magic;
  const float n = t - round_magic;
  const float f = u - n;
  float p = std::fma(exp2_c5, f, exp2_c4);
  p = std::fma(p, f, exp2_c3);
  p = std::fma(p, f, exp2_c2);
  p = std::fma(p, f, exp2_c1);
  p = std::fma(p, f, 1.0f);
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(p) + (std::bit_cast<std::uint32_t>(t) << 23);
  return std::bit_cast<float>(bits);
}

/// Float sums of one block in the block's own frame u = (x - bm) * k (bm: the block maximum, so
/// u <= 0 and the maximum sits at u = 0 exactly), folded to double: s0 = sum e, s1 = sum e u,
/// s2 = sum e u^2, with e = 2^u.
struct block_sums {
  double s0 = 0.0;
  double s1 = 0.0;
  double s2 = 0.0;
};

/// What the fused pass returns: the row maximum and the tempered moments in log2 units
/// (u = (x - max) * k, e = 2^u): weight S0, mean of u and centred second moment M2 = sum e (u - mean)^2.
struct row_moments {
  float max = -std::numeric_limits<float>::infinity();
  double s0 = 0.0;
  double mean = 0.0;
  double m2 = 0.0;
  bool saw_nan = false; ///< NaN (or +inf) reached the pass
};

/// One element of the sweep (the portable kernel, and the SIMD kernels' row tails).
inline void sweep_one(float x, float bm, float k, float& s0, float& s1, float& s2) noexcept {
  float u = (x - bm) * k;
  u = u < exp2_floor ? exp2_floor : u; // keeps NaN, so that s1 becomes NaN
  const float e = exp2_poly(u);
  const float w = e * u;
  s0 += e;
  s1 += w;
  s2 = std::fma(w, u, s2);
}

#if defined(__GNUC__) || defined(__clang__)
// The portable sweep is written in the compilers' generic vectors: eight float lanes, one AVX
// vector where the build enables AVX (-march=native on an AVX2 machine), two SSE2 vectors on any
// x86-64 target without -m flags, two NEON vectors on AArch64. Plain loops over lane arrays were
// not vectorised by GCC 12 (and without -mfma called libm's fmaf for every std::fma: 0.46 GB/s).
#define RECKON_TOKEN_STATS_VECTOR_EXT 1
#if defined(__AVX__)
inline constexpr std::size_t portable_width = 8;
#else
inline constexpr std::size_t portable_width = 4;
#endif
using portable_fv = float __attribute__((vector_size(portable_width * sizeof(float))));
using portable_uv = std::uint32_t __attribute__((vector_size(portable_width * sizeof(float))));

[[nodiscard]] inline portable_fv portable_splat(float v) noexcept { return portable_fv{} + v; }

/// a * b + c: one FMA where the build has it, otherwise a multiply and an add (one more rounding:
/// the portable exp2's bound covers both; see tests/numerics/token_stats_test.cpp).
#if RECKON_TOKEN_STATS_X86 && defined(__FMA__) && defined(__AVX__)
#define RECKON_TOKEN_STATS_PORTABLE_FMA 1
#else
#define RECKON_TOKEN_STATS_PORTABLE_FMA 0
#endif
[[nodiscard]] inline portable_fv portable_madd(portable_fv a, portable_fv b, portable_fv c) noexcept {
#if RECKON_TOKEN_STATS_PORTABLE_FMA
  return _mm256_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}

/// lo where lo > u, else u (so NaN stays NaN, and s1 becomes NaN): maxps(lo, u) on x86, which
/// GCC does not make of the comparison by itself.
[[nodiscard]] inline portable_fv portable_max(portable_fv lo, portable_fv u) noexcept {
#if RECKON_TOKEN_STATS_X86 && defined(__AVX__)
  return _mm256_max_ps(lo, u);
#elif RECKON_TOKEN_STATS_X86 && defined(__SSE__)
  return _mm_max_ps(lo, u);
#else
  return lo > u ? lo : u;
#endif
}

/// One vector of the portable sweep: the arithmetic of sweep_one, but for the polynomial's order.
inline void sweep_step_portable(portable_fv xv, portable_fv bm, portable_fv k, portable_fv& s0, portable_fv& s1,
                                portable_fv& s2) noexcept {
  const portable_fv lo = portable_splat(exp2_floor), magic = portable_splat(round_magic);
  const portable_fv c1 = portable_splat(exp2_c1), c2 = portable_splat(exp2_c2), c3 = portable_splat(exp2_c3),
                        c4 = portable_splat(exp2_c4), c5 = portable_splat(exp2_c5), one = portable_splat(1.0f);
  const portable_fv u = portable_max(lo, (xv - bm) * k);
  const portable_fv t = u + magic;
  const portable_fv f = u - (t - magic);
#if RECKON_TOKEN_STATS_PORTABLE_FMA
  // Horner with FMA: bit for bit exp2_poly (and the AVX2 kernel's exp2).
  portable_fv p = portable_madd(c5, f, c4);
  p = portable_madd(p, f, c3);
  p = portable_madd(p, f, c2);
  p = portable_madd(p, f, c1);
  p = portable_madd(p, f, one);
#else
  // Without FMA, Estrin's scheme rather than Horner's: one more multiply, but a chain of three
  // multiply-add pairs instead of five, which is what limited SSE2 (12% faster from L1); relative
  // error <= 2.5e-7 instead of 2e-7 (tests/numerics/token_stats_test.cpp).
  const portable_fv f2 = f * f;
  const portable_fv p =
      portable_madd(portable_madd(portable_madd(c5, f, c4), f2, portable_madd(c3, f, c2)), f2, portable_madd(c1, f, one));
#endif
  const portable_fv e = std::bit_cast<portable_fv>(std::bit_cast<portable_uv>(p) + (std::bit_cast<portable_uv>(t) << 23));
  const portable_fv w = e * u;
  s0 += e;
  s1 += w;
  s2 = portable_madd(w, u, s2);
}
#else
#define RECKON_TOKEN_STATS_VECTOR_EXT 0
#define RECKON_TOKEN_STATS_PORTABLE_FMA 0
#endif

/// The portable block maximum (NaN is ignored here and caught by the sweep). In generic vectors:
/// the scalar loop ran at ~31 GB/s from L1, a third of the portable pass's time once its sweep
/// was vectorised.
[[nodiscard]] inline float block_max_portable(const float* x, std::size_t n) noexcept {
  float r = -std::numeric_limits<float>::infinity();
  std::size_t i = 0;
#if RECKON_TOKEN_STATS_VECTOR_EXT
  portable_fv m0 = portable_splat(r), m1 = m0;
  for (; i + 2 * portable_width <= n; i += 2 * portable_width) {
    portable_fv xa, xb;
    std::memcpy(&xa, x + i, sizeof xa);
    std::memcpy(&xb, x + i + portable_width, sizeof xb);
    m0 = portable_max(xa, m0); // xa > m0 ? xa : m0, so a NaN in xa is passed over
    m1 = portable_max(xb, m1);
  }
  for (std::size_t j = 0; j < portable_width; ++j) {
    r = m0[j] > r ? m0[j] : r;
    r = m1[j] > r ? m1[j] : r;
  }
#endif
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

/// The portable sweep: eight independent float lanes, as the AVX2 kernel has, so that its
/// rounding stays close to the SIMD kernels'. Prefetches `next` (the next block) as it goes.
[[nodiscard]] inline block_sums block_sweep_portable(const float* x, std::size_t n, float bm, float k,
                                                     [[maybe_unused]] const float* next = nullptr,
                                                     [[maybe_unused]] std::size_t next_n = 0) noexcept {
  constexpr std::size_t lanes = 8;
  std::size_t i = 0;
  block_sums s;
#if RECKON_TOKEN_STATS_VECTOR_EXT
  constexpr std::size_t per = lanes / portable_width; // vectors per eight floats
  const portable_fv vbm = portable_splat(bm), vk = portable_splat(k);
  portable_fv a0[per] = {}, a1[per] = {}, a2[per] = {};
  for (; i + lanes <= n; i += lanes) {
    // One prefetch per 64-byte line of the next block.
    if (i % 16 == 0 && i < next_n) __builtin_prefetch(next + i);
    for (std::size_t v = 0; v < per; ++v) {
      portable_fv xv;
      std::memcpy(&xv, x + i + v * portable_width, sizeof xv);
      sweep_step_portable(xv, vbm, vk, a0[v], a1[v], a2[v]);
    }
  }
  for (std::size_t v = 0; v < per; ++v)
    for (std::size_t j = 0; j < portable_width; ++j) {
      s.s0 += static_cast<double>(a0[v][j]);
      s.s1 += static_cast<double>(a1[v][j]);
      s.s2 += static_cast<double>(a2[v][j]);
    }
#else
  float a0[lanes] = {}, a1[lanes] = {}, a2[lanes] = {};
  for (; i + lanes <= n; i += lanes)
    for (std::size_t j = 0; j < lanes; ++j) sweep_one(x[i + j], bm, k, a0[j], a1[j], a2[j]);
  for (std::size_t j = 0; j < lanes; ++j) {
    s.s0 += a0[j];
    s.s1 += a1[j];
    s.s2 += a2[j];
  }
#endif
  float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f;
  for (; i < n; ++i) sweep_one(x[i], bm, k, t0, t1, t2);
  s.s0 += t0;
  s.s1 += t1;
  s.s2 += t2;
  return s;
}

#if RECKON_TOKEN_STATS_X86
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics self-initialise their "undefined" operands, which -Wuninitialized
// reports when they are compiled through target attributes rather than -mavx512f.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/// The AVX2 block maximum.
[[gnu::target("avx2,fma")]] inline float block_max_avx2(const float* x, std::size_t n) noexcept {
  __m256 m0 = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 m1 = m0;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
    m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
  }
  for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
  m0 = _mm256_max_ps(m0, m1);
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  float r = _mm_cvtss_f32(h);
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

/// The sum of a float vector's lanes, in double.
[[gnu::target("avx2,fma")]] inline double hsum_double(__m256 v) noexcept {
  const __m256d d = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
  h = _mm_add_sd(h, _mm_unpackhi_pd(h, h));
  return _mm_cvtsd_f64(h);
}

/// The constants of the AVX2 sweep, broadcast once per block. Nine, not ten: rint(u) comes from
/// vcvtps2dq instead of the round_magic addition (the same value under the default rounding mode),
/// so that constants, three accumulators and the temporaries of two vectors fit in the sixteen ymm
/// registers AVX2 has (with ten constants and six accumulators GCC kept three accumulators on the
/// stack: a store-to-load round trip on every loop-carried add, which capped the kernel at about a
/// third of the read rate).
struct avx2_sweep_constants {
  __m256 bm, k, lo, c1, c2, c3, c4, c5, one;
};

/// exp2 of one vector of the AVX2 sweep, the same arithmetic as sweep_one: returns e = 2^u and
/// leaves u = max(lo, (x - bm) k) in `u`.
[[gnu::target("avx2,fma"), gnu::always_inline]] inline __m256 exp2_step_avx2(const avx2_sweep_constants& q, __m256 xv,
                                                                           __m256& u) noexcept {
  // max(lo, u) returns u when u is NaN (the second operand), so a NaN logit reaches s1.
  u = _mm256_max_ps(q.lo, _mm256_mul_ps(_mm256_sub_ps(xv, q.bm), q.k));
  const __m256i n = _mm256_cvtps_epi32(u); // rint(u) (NaN: INT_MIN, so f and e stay NaN)
  const __m256 f = _mm256_sub_ps(u, _mm256_cvtepi32_ps(n));
  __m256 p = _mm256_fmadd_ps(q.c5, f, q.c4);
  p = _mm256_fmadd_ps(p, f, q.c3);
  p = _mm256_fmadd_ps(p, f, q.c2);
  p = _mm256_fmadd_ps(p, f, q.c1);
  p = _mm256_fmadd_ps(p, f, q.one);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(n, 23)));
}

/// The AVX2 + FMA sweep: two vectors per step into one set of accumulators, each pair summed
/// before it joins (so every loop-carried chain is one add, or one add after an FMA, per sixteen
/// floats: the adds' latency is hidden without a second set of registers), and each lane sums
/// 256 pairs per block, as rounding-wise as the two sets of 256 terms it replaces (chaining both
/// vectors into one set instead doubled sample_row's boundary misses against an exact CDF, 8 -> 19
/// of 30000 draws; pairs: 7).
[[gnu::target("avx2,fma")]] inline block_sums block_sweep_avx2(const float* x, std::size_t n, float bm, float k,
                                                                const float* next, std::size_t next_n) noexcept {
  const avx2_sweep_constants q{_mm256_set1_ps(bm),      _mm256_set1_ps(k),       _mm256_set1_ps(exp2_floor),
                               _mm256_set1_ps(exp2_c1), _mm256_set1_ps(exp2_c2), _mm256_set1_ps(exp2_c3),
                               _mm256_set1_ps(exp2_c4), _mm256_set1_ps(exp2_c5), _mm256_set1_ps(1.0f)};
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if (i < next_n) _mm_prefetch(reinterpret_cast<const char*>(next + i), _MM_HINT_T0);
    __m256 ua, ub;
    const __m256 ea = exp2_step_avx2(q, _mm256_loadu_ps(x + i), ua);
    const __m256 eb = exp2_step_avx2(q, _mm256_loadu_ps(x + i + 8), ub);
    const __m256 wa = _mm256_mul_ps(ea, ua), wb = _mm256_mul_ps(eb, ub);
    s0 = _mm256_add_ps(s0, _mm256_add_ps(ea, eb));
    s1 = _mm256_add_ps(s1, _mm256_add_ps(wa, wb));
    s2 = _mm256_add_ps(s2, _mm256_fmadd_ps(wa, ua, _mm256_mul_ps(wb, ub)));
  }
  for (; i + 8 <= n; i += 8) {
    __m256 u;
    const __m256 e = exp2_step_avx2(q, _mm256_loadu_ps(x + i), u);
    const __m256 w = _mm256_mul_ps(e, u);
    s0 = _mm256_add_ps(s0, e);
    s1 = _mm256_add_ps(s1, w);
    s2 = _mm256_fmadd_ps(w, u, s2);
  }
  float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f;
  for (; i < n; ++i) sweep_one(x[i], bm, k, t0, t1, t2);
  return {hsum_double(s0) + t0, hsum_double(s1) + t1, hsum_double(s2) + t2};
}

// exp2 for the AVX-512 kernel: 2^u = 2^floor(u) * 2^f with f = u - floor(u) in [0, 1) from
// vreduceps and the power of two applied by vscalefps; 2^f = 1 + d1 f + ... + d4 f^4, fitted for
// relative error on [0, 1): max 3.0e-6 evaluated in float with FMA. Degree 4 rather than 5 buys
// one multiply-add per sixteen floats (~10% of this kernel, which is bound by its FMA pipes).
inline constexpr float exp2_d1 = 0.693044841f;
inline constexpr float exp2_d2 = 0.241280213f;
inline constexpr float exp2_d3 = 0.0522424728f;
inline constexpr float exp2_d4 = 0.0134266857f;
// Below this |bm * k| the AVX-512 kernel forms u with one FMA, x * k - fl(bm * k): the block frame is
// then shifted by the rounding residual lo = bm * k - fl(bm * k), |lo| <= 2^-9, which the merge
// removes exactly. Above it (huge logits or tiny T) it subtracts first, u = (x - bm) * k.
inline constexpr float fma_frame_limit = 32768.0f;

/// The AVX-512 block maximum.
[[gnu::target("avx512f,avx512dq")]] inline float block_max_avx512(const float* x, std::size_t n) noexcept {
  __m512 m0 = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m1 = m0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0);
    m1 = _mm512_max_ps(_mm512_loadu_ps(x + i + 16), m1);
  }
  for (; i + 16 <= n; i += 16) m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0);
  m0 = _mm512_max_ps(m0, m1);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, m0);
  float r = -std::numeric_limits<float>::infinity();
  for (const float v : lanes) r = v > r ? v : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

/// The sum of a 16-float vector's lanes, in double.
[[gnu::target("avx512f,avx512dq")]] inline double hsum_double(__m512 v) noexcept {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  double s = 0.0;
  for (const float x : lanes) s += x;
  return s;
}

/// The constants of the AVX-512 sweep.
struct avx512_sweep_constants {
  __m512 bm, k, neg_hi, lo, d1, d2, d3, d4, one;
};

/// One vector of the AVX-512 sweep (sixteen lanes); FmaFrame: u = x * k - fl(bm * k) in one FMA.
template <bool FmaFrame>
[[gnu::target("avx512f,avx512dq"), gnu::always_inline]] inline void sweep_step_avx512(const avx512_sweep_constants& q, __m512 xv,
                                                                                     __m512& s0, __m512& s1, __m512& s2) noexcept {
  const __m512 y = FmaFrame ? _mm512_fmadd_ps(xv, q.k, q.neg_hi) : _mm512_mul_ps(_mm512_sub_ps(xv, q.bm), q.k);
  const __m512 u = _mm512_max_ps(q.lo, y);                                          // NaN stays NaN
  const __m512 f = _mm512_reduce_ps(u, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); // u - floor(u)
  __m512 p = _mm512_fmadd_ps(q.d4, f, q.d3);
  p = _mm512_fmadd_ps(p, f, q.d2);
  p = _mm512_fmadd_ps(p, f, q.d1);
  p = _mm512_fmadd_ps(p, f, q.one);
  const __m512 e = _mm512_scalef_ps(p, u); // p * 2^floor(u)
  const __m512 w = _mm512_mul_ps(e, u);
  s0 = _mm512_add_ps(s0, e);
  s1 = _mm512_add_ps(s1, w);
  s2 = _mm512_fmadd_ps(w, u, s2);
}

/// The AVX-512 sweep body: two accumulator sets; prefetches the next block as it goes.
template <bool FmaFrame>
[[gnu::target("avx512f,avx512dq")]] inline block_sums block_sweep_avx512_impl(const float* x, std::size_t n, float bm, float k,
                                                                               float hi, const float* next,
                                                                               std::size_t next_n) noexcept {
  const avx512_sweep_constants q{_mm512_set1_ps(bm),      _mm512_set1_ps(k),       _mm512_set1_ps(-hi),
                                 _mm512_set1_ps(exp2_floor), _mm512_set1_ps(exp2_d1), _mm512_set1_ps(exp2_d2),
                                 _mm512_set1_ps(exp2_d3), _mm512_set1_ps(exp2_d4), _mm512_set1_ps(1.0f)};
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    if (i < next_n) {
      _mm_prefetch(reinterpret_cast<const char*>(next + i), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(next + i + 16), _MM_HINT_T0);
    }
    sweep_step_avx512<FmaFrame>(q, _mm512_loadu_ps(x + i), a0, a1, a2);
    sweep_step_avx512<FmaFrame>(q, _mm512_loadu_ps(x + i + 16), b0, b1, b2);
  }
  for (; i + 16 <= n; i += 16) sweep_step_avx512<FmaFrame>(q, _mm512_loadu_ps(x + i), a0, a1, a2);
  if (i < n) {
    // The row's last few floats: masked lanes add nothing.
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1u);
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0;
    sweep_step_avx512<FmaFrame>(q, _mm512_maskz_loadu_ps(mask, x + i), c0, c1, c2);
    a0 = _mm512_mask_add_ps(a0, mask, a0, c0);
    a1 = _mm512_mask_add_ps(a1, mask, a1, c1);
    a2 = _mm512_mask_add_ps(a2, mask, a2, c2);
  }
  return {hsum_double(_mm512_add_ps(a0, b0)), hsum_double(_mm512_add_ps(a1, b1)), hsum_double(_mm512_add_ps(a2, b2))};
}

/// The AVX-512 sweep (F + DQ: vreduceps, vscalefps). Its sums are in the frame u = (x - bm) * k + lo;
/// returns lo (0 when the subtract-first path was taken) in `shift`.
[[gnu::target("avx512f,avx512dq")]] inline block_sums block_sweep_avx512(const float* x, std::size_t n, float bm, float k,
                                                                          const float* next, std::size_t next_n,
                                                                          double& shift, bool allow_fma_frame = true) noexcept {
  const float hi = bm * k;
  if (allow_fma_frame && std::fabs(hi) <= fma_frame_limit) {
    shift = static_cast<double>(std::fma(bm, k, -hi)); // exact: the rounding error of a float product
    return block_sweep_avx512_impl<true>(x, n, bm, k, hi, next, next_n);
  }
  shift = 0.0;
  return block_sweep_avx512_impl<false>(x, n, bm, k, hi, next, next_n);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

/// Which kernel the fused pass uses.
enum class kernel {
  automatic, ///< the best this CPU runs: avx512, else avx2, else portable
  portable,  ///< plain C++ (eight float lanes; compilers may vectorise it)
  avx2,      ///< AVX2 + FMA intrinsics
  avx512,    ///< AVX-512 F + DQ intrinsics
};

/// Whether `which` can run here (compiled in and supported by this CPU); automatic and portable always can.
[[nodiscard]] inline bool kernel_available(kernel which) noexcept {
#if RECKON_TOKEN_STATS_X86
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  if (which == kernel::avx2) return avx2;
  if (which == kernel::avx512) return avx512;
  return true;
#else
  return which == kernel::automatic || which == kernel::portable;
#endif
}

/// The kernel `automatic` stands for on this CPU.
[[nodiscard]] inline kernel resolve_kernel(kernel which) noexcept {
  if (which != kernel::automatic) return which;
  if (kernel_available(kernel::avx512)) return kernel::avx512;
  if (kernel_available(kernel::avx2)) return kernel::avx2;
  return kernel::portable;
}

/// Whether every element of x is -inf (false when one is NaN, or finite, or +inf).
[[nodiscard]] inline bool all_negative_infinity(const float* x, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (!(x[i] == -std::numeric_limits<float>::infinity())) return false;
  return true;
}

/// A block hook that does nothing (see fused_row_moments).
struct no_block_hook {
  void operator()(const float*, std::size_t, std::size_t, float, const block_sums*, double) const noexcept {}
};

/// The fused pass over one row (no validation beyond flagging; see validate_row).
/// k = log2(e) / T as a float in [FLT_MIN, FLT_MAX]; `which` must be available (kernel_available).
/// `on_block(ptr, len, offset)` is called on each block while it is cached (the top-k scan uses it);
/// `on_swept(ptr, len, offset, bm, &sums, shift)` after each block's sweep, still cached, with the
/// block maximum and its sums in the frame (x - bm) k + shift (the fused sampler uses them). Blocks
/// that are all -inf, or that hold a NaN, are not passed to on_swept.
template <class OnBlock, class OnSwept = no_block_hook>
[[nodiscard]] row_moments fused_row_moments(const float* x, std::size_t n, float k, kernel which, OnBlock&& on_block,
                                            OnSwept&& on_swept = OnSwept{}) {
  which = resolve_kernel(which);
  row_moments r;
  // Row-frame accumulators: s0 = sum e, s1 = sum e u (<= 0: a sum of same-signed terms, so H never
  // cancels), m2 = sum e (u - s1/s0)^2.
  double s0 = 0.0, s1 = 0.0, m2 = 0.0;
  float m = -std::numeric_limits<float>::infinity();
  for (std::size_t b = 0; b < n; b += block_floats) {
    const std::size_t len = std::min(block_floats, n - b);
    const float* xb = x + b;
    // The SIMD sweeps prefetch the next block while computing on this one, so that memory and
    // arithmetic overlap instead of alternating.
    [[maybe_unused]] const std::size_t next_len = std::min(block_floats, n - b - len);
    float bm;
    switch (which) {
#if RECKON_TOKEN_STATS_X86
    case kernel::avx512: bm = block_max_avx512(xb, len); break;
    case kernel::avx2: bm = block_max_avx2(xb, len); break;
#endif
    default: bm = block_max_portable(xb, len); break;
    }
    on_block(xb, len, b);
    if (bm == -std::numeric_limits<float>::infinity()) {
      // Every element is -inf (masked: no weight) or NaN, which the sweep would not see.
      if (!all_negative_infinity(xb, len)) r.saw_nan = true;
      continue;
    }
    block_sums bs;
    double shift = 0.0; // the sweep's frame is u + shift (see block_sweep_avx512)
    switch (which) {
#if RECKON_TOKEN_STATS_X86
    case kernel::avx512:
      bs = block_sweep_avx512(xb, len, bm, k, xb + len, next_len, shift);
      // In the FMA frame the block maximum sits at u = lo, not at exactly 0, so its own terms
      // (1, lo, lo^2) carry rounding errors ~eps * lo^2 that can swamp the block's second moment
      // when the maximum holds nearly all the block's mass (nearly one-hot). Then redo the block
      // in the exact frame, where those terms are exactly zero. Rare: it needs M2 < 1e4 eps lo^2.
      if (shift != 0.0 && bs.s0 > 0.0 &&
          bs.s2 - bs.s1 * (bs.s1 / bs.s0) < 1e4 * static_cast<double>(std::numeric_limits<float>::epsilon()) * shift * shift * bs.s0)
        bs = block_sweep_avx512(xb, len, bm, k, nullptr, 0, shift, false);
      break;
    case kernel::avx2: bs = block_sweep_avx2(xb, len, bm, k, xb + len, next_len); break;
#endif
    default: bs = block_sweep_portable(xb, len, bm, k, xb + len, next_len); break;
    }
    if (!(bs.s0 > 0.5) || std::isnan(bs.s1) || std::isnan(bs.s2)) {
      r.saw_nan = true; // NaN (or +inf) reached the sweep
      continue;
    }
    on_swept(xb, len, b, bm, &bs, shift);
    if (bm > m) {
      if (m != -std::numeric_limits<float>::infinity()) {
        // Move the accumulators to the new maximum: u_new = u_old + du, weights scale by 2^du.
        const double du = (static_cast<double>(m) - static_cast<double>(bm)) * static_cast<double>(k);
        const double scale = std::exp2(du);
        s1 = scale * (s1 + du * s0); // both terms <= 0
        s0 *= scale;
        m2 *= scale;
      }
      m = bm;
    }
    // The block in the row frame: its u are shifted by c <= 0 and its weights scaled by 2^c.
    // Its own centred moment s2 - s1^2/s0 is taken about its maximum (the heaviest element, whose
    // term is exactly zero): the cancellation factor s2 / M2 is at most 1 / p(max | block).
    const double c = (static_cast<double>(bm) - static_cast<double>(m)) * static_cast<double>(k) - shift;
    const double scale = std::exp2(c);
    const double db = bs.s1 / bs.s0;
    const double wb = bs.s0 * scale;
    const double m2b = std::max(0.0, bs.s2 - bs.s1 * db) * scale;
    // Chan et al.'s merge of (s0, mean, m2) with the block's (wb, c + db, m2b): all terms >= 0.
    const double mean_b = c + db;
    const double total = s0 + wb;
    if (s0 > 0.0) {
      const double delta = mean_b - s1 / s0;
      m2 += delta * delta * (s0 * (wb / total));
    }
    m2 += m2b;
    s1 += wb * mean_b;
    s0 = total;
  }
  r.max = m;
  r.s0 = s0;
  r.mean = s0 > 0.0 ? s1 / s0 : 0.0;
  r.m2 = m2;
  return r;
}

/// Throws reckon::exception (invalid_argument) naming the first NaN or +inf logit, or saying
/// that every logit is -inf. Returns normally when the row is valid.
inline void validate_row(std::span<const float> row, const char* who) {
  bool finite_seen = false;
  for (std::size_t i = 0; i < row.size(); ++i) {
    const float v = row[i];
    if (std::isnan(v))
      throw exception(errc::invalid_argument, std::string(who) + ": logit " + std::to_string(i) + " is NaN");
    if (v == std::numeric_limits<float>::infinity())
      throw exception(errc::invalid_argument, std::string(who) + ": logit " + std::to_string(i) + " is +inf");
    if (v != -std::numeric_limits<float>::infinity()) finite_seen = true;
  }
  require(finite_seen, std::string(who) + ": every logit is -inf (no token has probability)");
}

/// The k best (value, id) pairs of a row: descending value, ties by lower id. Elements arrive in
/// increasing id order, so a later equal value never displaces an earlier one.
class top_k_scan {
public:
  explicit top_k_scan(std::size_t k) : k_(k) { heap_.reserve(k); }

  /// How many pairs are kept.
  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  /// Whether k pairs are held (then only values above threshold() get in).
  [[nodiscard]] bool full() const noexcept { return heap_.size() == k_; }
  /// The worst value held once full (-inf before).
  [[nodiscard]] float threshold() const noexcept { return threshold_; }

  /// Offers one element.
  void consider(float v, std::size_t id) {
    if (k_ == 0) return;
    if (heap_.size() < k_) push(v, id);
    else if (v > threshold_) replace(v, id);
  }

  /// Offers row[offset .. offset + n) (the portable scan).
  void offer(const float* x, std::size_t n, std::size_t offset) {
    for (std::size_t i = 0; i < n; ++i) consider(x[i], offset + i);
  }

  /// The selected pairs, best first.
  [[nodiscard]] std::vector<std::pair<float, std::size_t>> sorted() const {
    auto out = heap_;
    std::sort(out.begin(), out.end(), better);
    return out;
  }

private:
  // a is better than b: higher value, or equal value and lower id (-inf ties included).
  static bool better(const std::pair<float, std::size_t>& a, const std::pair<float, std::size_t>& b) noexcept {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  }
  void push(float v, std::size_t id) {
    heap_.emplace_back(v, id);
    std::push_heap(heap_.begin(), heap_.end(), better); // heap_.front() is the worst kept
    if (heap_.size() == k_) threshold_ = heap_.front().first;
  }
  void replace(float v, std::size_t id) {
    std::pop_heap(heap_.begin(), heap_.end(), better);
    heap_.back() = {v, id};
    std::push_heap(heap_.begin(), heap_.end(), better);
    threshold_ = heap_.front().first;
  }

  std::size_t k_;
  std::vector<std::pair<float, std::size_t>> heap_;
  float threshold_ = -std::numeric_limits<float>::infinity();
};

#if RECKON_TOKEN_STATS_X86
/// The top-k scan, sixteen compares at a time: only lanes above the current threshold (rare once
/// the heap has filled: about k log(n / k) insertions per row) reach the scalar heap.
[[gnu::target("avx512f")]] inline void offer_avx512(top_k_scan& scan, const float* x, std::size_t n, std::size_t offset) {
  std::size_t i = 0;
  for (; i < n && !scan.full(); ++i) scan.consider(x[i], offset + i);
  for (; i + 16 <= n; i += 16) {
    auto mask = static_cast<unsigned>(
        _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), _mm512_set1_ps(scan.threshold()), _CMP_GT_OQ));
    for (; mask != 0; mask &= mask - 1) {
      const auto j = static_cast<std::size_t>(__builtin_ctz(mask));
      scan.consider(x[i + j], offset + i + j);
    }
  }
  for (; i < n; ++i) scan.consider(x[i], offset + i);
}

/// The top-k scan: 32 compares per test (a hit is rare once the heap has filled), then eight
/// at a time within a group that has one.
[[gnu::target("avx2")]] inline void offer_avx2(top_k_scan& scan, const float* x, std::size_t n, std::size_t offset) {
  std::size_t i = 0;
  for (; i < n && !scan.full(); ++i) scan.consider(x[i], offset + i);
  for (; i + 32 <= n; i += 32) {
    const __m256 th = _mm256_set1_ps(scan.threshold());
    const __m256 g01 = _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), th, _CMP_GT_OQ),
                                    _mm256_cmp_ps(_mm256_loadu_ps(x + i + 8), th, _CMP_GT_OQ));
    const __m256 g23 = _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i + 16), th, _CMP_GT_OQ),
                                    _mm256_cmp_ps(_mm256_loadu_ps(x + i + 24), th, _CMP_GT_OQ));
    if (_mm256_movemask_ps(_mm256_or_ps(g01, g23)) == 0) continue;
    for (std::size_t v = i; v < i + 32; v += 8) {
      auto mask = static_cast<unsigned>(
          _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + v), _mm256_set1_ps(scan.threshold()), _CMP_GT_OQ)));
      for (; mask != 0; mask &= mask - 1) {
        const auto j = static_cast<std::size_t>(__builtin_ctz(mask));
        scan.consider(x[v + j], offset + v + j);
      }
    }
  }
  for (; i + 8 <= n; i += 8) {
    auto mask = static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(scan.threshold()), _CMP_GT_OQ)));
    for (; mask != 0; mask &= mask - 1) {
      const auto j = static_cast<std::size_t>(__builtin_ctz(mask));
      scan.consider(x[i + j], offset + i + j);
    }
  }
  for (; i < n; ++i) scan.consider(x[i], offset + i);
}
#endif

/// The statistics of one validated-on-failure row; the shared body of every public entry point.
/// `hook(ptr, len, offset, bm, sums, shift)` sees every block while it is cached (sums is null in
/// the greedy limit, where no sweep runs; see fused_row_moments).
template <class Hook = no_block_hook>
row_stats row_stats_impl(std::span<const float> row, std::optional<std::size_t> chosen, const token_stats_params& params,
                         std::span<std::int32_t> top_ids, std::span<float> top_logprobs, kernel which, const char* who,
                         Hook&& hook = Hook{}) {
  const double temperature = params.temperature;
  // The messages are built only on failure: six std::string allocations per row were ~2% of a
  // row's time (callgrind).
  const auto check = [who](bool ok, const char* what) {
    if (!ok) throw exception(errc::invalid_argument, std::string(who) + what);
  };
  check(!row.empty(), ": empty logits row");
  check(std::isfinite(temperature) && temperature >= 0.0, ": temperature must be finite and >= 0 (0 means greedy)");
  check(!chosen || *chosen < row.size(), ": chosen token id out of range");
  check(top_ids.size() == top_logprobs.size() || top_logprobs.empty(), ": top_ids and top_logprobs differ in length");
  check(top_ids.size() <= row.size(), ": top-k larger than the vocabulary");
  check(kernel_available(which), ": the requested SIMD kernel does not run on this CPU");

  top_k_scan scan(top_ids.size());
  const kernel resolved = resolve_kernel(which);
  const auto offer = [&scan, resolved](const float* p, std::size_t n, std::size_t off) {
    if (scan.k() == 0) return;
#if RECKON_TOKEN_STATS_X86
    if (resolved == kernel::avx512) return offer_avx512(scan, p, n, off);
    if (resolved == kernel::avx2) return offer_avx2(scan, p, n, off);
#endif
    scan.offer(p, n, off);
  };
  row_stats out;

  const double k_exact = std::numbers::log2e / temperature; // +inf at T = 0
  if (!(k_exact <= static_cast<double>(std::numeric_limits<float>::max()))) {
    // Greedy limit: uniform over the tokens tied at the maximum.
    float m = -std::numeric_limits<float>::infinity();
    std::size_t ties = 0;
    for (std::size_t b = 0; b < row.size(); b += block_floats) {
      const std::size_t len = std::min(block_floats, row.size() - b);
      offer(row.data() + b, len, b);
      hook(row.data() + b, len, b, block_max_portable(row.data() + b, len), static_cast<const block_sums*>(nullptr), 0.0);
    }
    for (const float v : row) {
      if (std::isnan(v) || v == std::numeric_limits<float>::infinity()) validate_row(row, who);
      if (v > m) m = v, ties = 1;
      else if (v == m) ++ties;
    }
    if (m == -std::numeric_limits<float>::infinity()) validate_row(row, who);
    const double lp_max = -std::log(static_cast<double>(ties));
    out.log_sum_exp = m;
    out.entropy = -lp_max;
    out.varentropy = 0.0;
    if (chosen) out.logprob = row[*chosen] == m ? lp_max : -std::numeric_limits<double>::infinity();
    const auto best = scan.sorted();
    for (std::size_t i = 0; i < best.size(); ++i) {
      top_ids[i] = static_cast<std::int32_t>(best[i].second);
      if (!top_logprobs.empty())
        top_logprobs[i] = best[i].first == m ? static_cast<float>(lp_max) : -std::numeric_limits<float>::infinity();
    }
    return out;
  }

  const float k = std::max(static_cast<float>(k_exact), std::numeric_limits<float>::min());
  const row_moments mo = fused_row_moments(row.data(), row.size(), k, which, offer, hook);
  if (mo.saw_nan || !std::isfinite(mo.max) || !(mo.s0 > 0.5) || !std::isfinite(mo.s0) || !std::isfinite(mo.mean) ||
      !std::isfinite(mo.m2)) {
    validate_row(row, who);
    throw exception(errc::invalid_argument, std::string(who) + ": the logits row produced non-finite statistics");
  }
  constexpr double ln2 = std::numbers::ln2;
  const double log_z = std::log(mo.s0); // log sum_v exp((x_v - max) / T)
  const double max = mo.max;
  out.log_sum_exp = max + temperature * log_z;
  out.entropy = std::max(0.0, log_z - ln2 * mo.mean);
  out.varentropy = ln2 * ln2 * (mo.m2 / mo.s0);
  const auto logprob_of = [&](float v) {
    if (v == -std::numeric_limits<float>::infinity()) return -std::numeric_limits<double>::infinity();
    return (static_cast<double>(v) - max) / temperature - log_z;
  };
  if (chosen) out.logprob = logprob_of(row[*chosen]);
  const auto best = scan.sorted();
  for (std::size_t i = 0; i < best.size(); ++i) {
    top_ids[i] = static_cast<std::int32_t>(best[i].second);
    if (!top_logprobs.empty()) top_logprobs[i] = static_cast<float>(logprob_of(best[i].first));
  }
  return out;
}

} // namespace detail

/// The statistics of one logits row: log-sum-exp, entropy, varentropy, and the chosen token's logprob.
/// One fused pass over the row (AVX2 + FMA when the CPU has it, chosen at run time; a portable
/// kernel otherwise).
/// @param logits the row, one float per vocabulary entry; -inf marks a masked token
/// @param chosen the sampled token's id, or nullopt (then `logprob` is NaN)
/// @param params the temperature
/// @returns the statistics, in nats
/// @throws reckon::exception (invalid_argument) when the row is empty, holds a NaN or +inf, or is
///         all -inf; when the temperature is negative or not finite; when `chosen` is out of range.
[[nodiscard]] inline row_stats token_row_stats(std::span<const float> logits, std::optional<std::size_t> chosen = std::nullopt,
                                               const token_stats_params& params = {}) {
  return detail::row_stats_impl(logits, chosen, params, {}, {}, detail::kernel::automatic, "token_row_stats");
}

/// As above, and the top-k tokens: `top_ids.size()` = k ids in descending probability (ties by lower
/// id) and their logprobs in `top_logprobs` (same length, or empty when only ids are wanted).
/// Masked tokens appear (with logprob -inf) only when fewer than k tokens are unmasked.
/// @throws reckon::exception (invalid_argument) as above, and when k exceeds the vocabulary or
///         the two output spans differ in length.
inline row_stats token_row_stats(std::span<const float> logits, std::optional<std::size_t> chosen,
                                 const token_stats_params& params, std::span<std::int32_t> top_ids,
                                 std::span<float> top_logprobs) {
  return detail::row_stats_impl(logits, chosen, params, top_ids, top_logprobs, detail::kernel::automatic,
                                "token_row_stats");
}

/// The statistics of every row of a row-major rows x vocab matrix, `out[r]` for row r.
/// @param logits rows * vocab floats, row r at logits[r * vocab]
/// @param vocab the row length (> 0)
/// @param chosen one token id per row, or empty (then every `logprob` is NaN)
/// @param out one record per row (its size is the number of rows)
/// @param params the temperature
/// @param top_ids empty, or rows * k ids (row r's k best at top_ids[r * k])
/// @param top_logprobs empty, or the same shape as top_ids
/// @throws reckon::exception (invalid_argument) on mismatched sizes, and as token_row_stats for any row.
inline void token_stats_batch(std::span<const float> logits, std::size_t vocab, std::span<const std::int32_t> chosen,
                              std::span<row_stats> out, const token_stats_params& params = {},
                              std::span<std::int32_t> top_ids = {}, std::span<float> top_logprobs = {}) {
  const char* who = "token_stats_batch";
  detail::require(vocab > 0, "token_stats_batch: vocab must be > 0");
  const std::size_t rows = out.size();
  detail::require(logits.size() == rows * vocab, "token_stats_batch: logits.size() != out.size() * vocab");
  detail::require(chosen.empty() || chosen.size() == rows, "token_stats_batch: chosen must be empty or one id per row");
  detail::require(top_ids.size() % (rows == 0 ? 1 : rows) == 0, "token_stats_batch: top_ids must hold k ids per row");
  const std::size_t k = rows == 0 ? 0 : top_ids.size() / rows;
  detail::require(top_logprobs.empty() || top_logprobs.size() == top_ids.size(),
                  "token_stats_batch: top_logprobs must be empty or as long as top_ids");
  for (std::size_t r = 0; r < rows; ++r) {
    std::optional<std::size_t> c;
    if (!chosen.empty()) {
      detail::require(chosen[r] >= 0, "token_stats_batch: negative chosen token id");
      c = static_cast<std::size_t>(chosen[r]);
    }
    out[r] = detail::row_stats_impl(logits.subspan(r * vocab, vocab), c, params, top_ids.empty() ? top_ids : top_ids.subspan(r * k, k),
                                    top_logprobs.empty() ? top_logprobs : top_logprobs.subspan(r * k, k),
                                    detail::kernel::automatic, who);
  }
}

/// The statistics of every row of a row-major logits matrix (an Eigen::Map of an engine's buffer
/// binds without a copy; rows may be padded, i.e. have an outer stride).
/// @param chosen empty, or one token id per row
/// @throws reckon::exception (invalid_argument) as token_stats_batch.
[[nodiscard]] inline std::vector<row_stats> token_stats_batch(const Eigen::Ref<const logits_matrix>& logits,
                                                              std::span<const std::int32_t> chosen = {},
                                                              const token_stats_params& params = {}) {
  const auto rows = static_cast<std::size_t>(logits.rows());
  const auto vocab = static_cast<std::size_t>(logits.cols());
  detail::require(vocab > 0, "token_stats_batch: the matrix has no columns");
  detail::require(chosen.empty() || chosen.size() == rows, "token_stats_batch: chosen must be empty or one id per row");
  std::vector<row_stats> out(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    std::optional<std::size_t> c;
    if (!chosen.empty()) {
      detail::require(chosen[r] >= 0, "token_stats_batch: negative chosen token id");
      c = static_cast<std::size_t>(chosen[r]);
    }
    const float* row = logits.data() + static_cast<std::ptrdiff_t>(r) * logits.outerStride();
    out[r] = detail::row_stats_impl(std::span<const float>(row, vocab), c, params, {}, {}, detail::kernel::automatic,
                                    "token_stats_batch");
  }
  return out;
}

/// Appends one token's statistics to a sequence's column store: logprob, entropy and varentropy
/// (as floats), and `top_logprobs` as one row of the top-k column when it is not empty.
/// @throws reckon::exception (invalid_argument) when `top_logprobs` does not match the store's
///         existing top_k width.
inline void append_row_stats(token_stats& store, const row_stats& s, std::span<const float> top_logprobs = {}) {
  if (!top_logprobs.empty()) {
    if (store.top_k == 0 && store.top_logprobs.empty()) store.top_k = static_cast<std::uint32_t>(top_logprobs.size());
    detail::require(top_logprobs.size() == store.top_k, "append_row_stats: top_logprobs width differs from the store's top_k");
    store.top_logprobs.insert(store.top_logprobs.end(), top_logprobs.begin(), top_logprobs.end());
  }
  store.logprob.push_back(static_cast<float>(s.logprob));
  store.entropy.push_back(static_cast<float>(s.entropy));
  store.varentropy.push_back(static_cast<float>(s.varentropy));
}

/// Computes one logits row's statistics for the sampled token `chosen` and appends them to `store`
/// (with the top `top_k` logprobs when top_k > 0): what an adapter calls once per generated token.
/// @returns the statistics appended
/// @throws reckon::exception (invalid_argument) as token_row_stats and append_row_stats.
inline row_stats append_token_stats(token_stats& store, std::span<const float> logits, std::size_t chosen,
                                    const token_stats_params& params = {}, std::uint32_t top_k = 0) {
  std::vector<std::int32_t> ids(top_k);
  std::vector<float> lps(top_k);
  const row_stats s = detail::row_stats_impl(logits, chosen, params, ids, lps, detail::kernel::automatic, "append_token_stats");
  append_row_stats(store, s, lps);
  return s;
}

} // namespace reckon
