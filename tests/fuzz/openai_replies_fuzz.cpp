// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the readers of the server replies that do not go through the OpenAI wire
// reader (openai_wire_fuzz covers that one, and with it the judge's and the stepping model's
// replies): served_prm's /pooling reader (openai::detail::read_pooling_reply, in both presets and
// in custom column choices up to UINT32_MAX) and embedder's /v1/embeddings reader
// (openai::detail::read_embedding_reply). A reader answers with a value or an engine_failure,
// never throws or crashes, and what it returns has the promised shape: one score per step, each
// in [0, 1]; one row per input, all of one non-zero dimension, finite floats.
//
// Input: byte 0 picks the reader and its preset, byte 1 the input shape, the rest is the body.
//   pooling:   byte 0 bit 0 = 0; bits 1-2 preset (0 Qwen2.5-Math-PRM, 1 Math-Shepherd, 2 and 3
//              custom: bit 3 the reading, bits 4-5 and 6-7 positive_index and negative_index
//              from {0, 1, 2, UINT32_MAX}); byte 1 bits 0-1: inputs - 1, bits 2-7: 2 bits per
//              input (the first three) for its steps, 0..3; a fourth input has one step.
//   embedding: byte 0 bit 0 = 1; byte 1 bits 0-2: inputs - 1 (1..8).
#include <reckon/adapters/openai_embed.hpp>
#include <reckon/adapters/openai_prm.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace {

namespace oa = reckon::openai;

bool names_reader(const reckon::error& e, std::string_view who) {
  return e.code == reckon::errc::engine_failure && std::string_view(e.message).starts_with(who);
}

oa::served_prm_params preset(std::uint8_t mode) {
  constexpr std::array<std::uint32_t, 4> columns = {0, 1, 2, std::numeric_limits<std::uint32_t>::max()};
  switch ((mode >> 1U) & 3U) {
  case 0: return oa::served_prm_params::qwen_math_prm();
  case 1: return oa::served_prm_params::math_shepherd();
  default: {
    oa::served_prm_params p;
    p.reading = (mode & 8U) != 0 ? oa::prm_reading::token_pair : oa::prm_reading::positive_class;
    p.positive_index = columns[(mode >> 4U) & 3U];
    p.negative_index = columns[(mode >> 6U) & 3U];
    return p;
  }
  }
}

void check_pooling(std::string_view body, std::uint8_t mode, std::uint8_t shape) {
  const oa::served_prm_params params = preset(mode);
  const std::size_t inputs = 1U + (shape & 3U);
  std::vector<std::size_t> steps(inputs, 1);
  for (std::size_t k = 0; k < inputs && k < 3; ++k) steps[k] = (shape >> (2U + 2U * k)) & 3U;
  // Named as the adapter names them: input k is some later candidate of the call.
  std::vector<std::size_t> candidates(inputs);
  for (std::size_t k = 0; k < inputs; ++k) candidates[k] = 2 * k + 1;
  const auto reply = oa::detail::read_pooling_reply(body, steps, candidates, params);
  if (!reply) {
    if (!names_reader(reply.error(), "openai::served_prm: ")) std::abort();
    return;
  }
  if (reply->scores.size() != inputs) std::abort();
  for (std::size_t k = 0; k < inputs; ++k) {
    if (reply->scores[k].size() != steps[k]) std::abort();
    for (const double s : reply->scores[k])
      if (!(s >= 0.0 && s <= 1.0)) std::abort(); // NaN fails too
  }
}

void check_embedding(std::string_view body, std::uint8_t shape) {
  const std::size_t inputs = 1U + (shape & 7U);
  const auto reply = oa::detail::read_embedding_reply(body, inputs);
  if (!reply) {
    if (!names_reader(reply.error(), "openai::embedder: ")) std::abort();
    return;
  }
  if (reply->dimension == 0 || reply->values.size() != inputs * reply->dimension) std::abort();
  for (const float v : reply->values)
    if (!std::isfinite(v)) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const std::uint8_t shape = data[1];
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  if ((mode & 1U) == 0) check_pooling(body, mode, shape);
  else check_embedding(body, shape);
  return 0;
}
