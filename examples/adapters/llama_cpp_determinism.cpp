// SPDX-License-Identifier: Apache-2.0
// The reproducibility audit on an in-process llama.cpp model: alone vs inside batches, at two thread counts.
//
// usage: llama_cpp_determinism --model PATH [--requests N] [--steps S] [--step-tokens T] [--batch B]
//                              [--threads A,B] [--temperature X]
//
// reckon::eval::audit_determinism runs each seeded request alone, then inside batches of B live
// sequences (decoded together in one llama_batch per round), and compares the two. It does so on
// one engine at thread count A, on one at thread count B, and alone at A against batched at B.
// reckon's own draws never depend on the batch or the thread count (each sequence has its own keyed
// stream, see llama_cpp.hpp); what differs is llama.cpp's logits, since floating-point sums over a
// different batch shape or thread split round differently. Per audit it prints the fraction of
// requests whose text, answer or token count changed, the fraction with any logprob difference, the
// first diverging token positions and the largest chosen-token logprob difference.

#include <reckon/adapters/llama_cpp.hpp>
#include <reckon/eval/determinism.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

reckon::llama_cpp::engine make_engine(const llama_model* model, std::uint32_t slots, std::int32_t threads) {
  reckon::llama_cpp::context_params cp;
  cp.n_seq_max = slots;
  cp.n_ctx = 8192;
  cp.n_threads = threads;
  return reckon::llama_cpp::engine(reckon::llama_cpp::context_backend(model, cp));
}

void print(const char* what, const reckon::eval::determinism_report& r) {
  auto spread = [&](auto field) {
    std::vector<std::size_t> at;
    for (const auto& row : r.rows)
      if (const auto v = field(row)) at.push_back(*v);
    std::sort(at.begin(), at.end());
    if (at.empty()) return std::string("(none)");
    return fmt::format("min {} median {} max {} ({} of {})", at.front(), at[at.size() / 2], at.back(), at.size(), r.rows.size());
  };
  fmt::print("{}: text changed {:.3f}, answer {:.3f}, token count {:.3f}, any logprob {:.3f}; largest logprob "
             "difference before the texts part {:.3g}\n  first token whose logprob differs: {}\n  first step whose "
             "text differs: {}\n",
             what, r.text_changed, r.answer_changed, r.tokens_changed, r.numerics_changed, r.max_logprob_diff,
             spread([](const auto& row) { return row.first_divergent_token; }),
             spread([](const auto& row) { return row.first_divergent_step; }));
}

} // namespace

int main(int argc, char** argv) {
  std::string path;
  std::uint32_t requests = 16;
  std::int32_t threads_a = 1, threads_b = 2;
  reckon::eval::determinism_params dp;
  dp.steps = 8;
  dp.batch = 8;
  dp.stepping.max_step_tokens = 32;
  dp.stepping.max_total_tokens = 4096;
  dp.stepping.temperature = 1.0f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    auto count = [&] { return static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10)); };
    if (flag == "--model") path = v;
    else if (flag == "--requests") requests = count();
    else if (flag == "--steps") dp.steps = count();
    else if (flag == "--step-tokens") dp.stepping.max_step_tokens = count();
    else if (flag == "--batch") dp.batch = count();
    else if (flag == "--temperature") dp.stepping.temperature = std::strtof(v, nullptr);
    else if (flag == "--threads") {
      char* end = nullptr;
      threads_a = static_cast<std::int32_t>(std::strtol(v, &end, 10));
      if (end != nullptr && *end == ',') threads_b = static_cast<std::int32_t>(std::strtol(end + 1, nullptr, 10));
    }
  }
  if (path.empty() || requests == 0 || dp.batch < 2 || threads_a <= 0 || threads_b <= 0) {
    fmt::print(stderr,
               "usage: {} --model PATH [--requests N] [--steps S] [--step-tokens T] [--batch B >= 2] [--threads A,B] "
               "[--temperature X]\n",
               argv[0]);
    return 2;
  }
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto weights = reckon::llama_cpp::load_model(path);
  if (!weights) return fmt::print(stderr, "{}\n", weights.error().message), 1;

  std::vector<reckon::eval::determinism_request> reqs;
  for (std::uint32_t i = 0; i < requests; ++i) {
    const std::string prompt = fmt::format("Question {}: what is {} times {}? Think step by step.\n", i, 3 + i, 7 + 2 * i);
    reqs.push_back({{.id = reckon::stable_id(prompt), .prompt = prompt}, 1000 + i});
  }
  auto a = make_engine(weights->get(), dp.batch, threads_a);
  auto b = make_engine(weights->get(), dp.batch, threads_b);
  fmt::print("{} requests x {} steps of up to {} tokens, T = {}, batches of {}\n", requests, dp.steps,
             dp.stepping.max_step_tokens, dp.stepping.temperature, dp.batch);
  for (int k = 0; k < 3; ++k) {
    auto& alone = k == 1 ? b : a;
    auto& batched = k == 0 ? a : b;
    const auto r = reckon::eval::audit_determinism(alone, batched, reqs, dp);
    if (!r) return fmt::print(stderr, "audit: {}\n", r.error().message), 1;
    const std::string what =
        k == 2 ? fmt::format("alone at {} threads vs batched at {}", threads_a, threads_b)
               : fmt::format("alone vs batched at {} thread{}", k == 0 ? threads_a : threads_b, (k == 0 ? threads_a : threads_b) == 1 ? "" : "s");
    print(what.c_str(), *r);
  }
  return 0;
}
