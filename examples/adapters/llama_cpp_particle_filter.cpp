// SPDX-License-Identifier: Apache-2.0
// reckon::particle_filter over an in-process llama.cpp model, scored by an in-process step-tag PRM.
//
// usage: llama_cpp_particle_filter --model PATH --prompt TEXT --particles N --steps S [--seed K]
//                                  [--threads T] [--step-tokens T] [--prm-model PATH]
//
// The policy is reckon::llama_cpp::engine (one batched llama_decode per round for every live
// particle; a resampled duplicate is a llama_memory_seq_cp fork, so nothing is prefilled twice).
// The PRM is reckon::llama_cpp::step_tag_prm on a second llama.cpp context: a Math-Shepherd-style
// PRM (a GGUF of peiyi9979/math-shepherd-mistral-7b-prm with --prm-model) reads P("+") / (P("+") +
// P("-")) at the tag "ки" after each step, and keeps a KV sequence per particle's text so each
// round decodes only the new steps. Without --prm-model it runs on the policy's weights: on the
// random-weight test model (../shared/models/tiny-llama-random.gguf) that is no PRM at all, its
// scores are noise, and the run shows the plumbing and the costs, not the search's accuracy.
// It prints the answer, the ledger and where the time went.

#include <reckon/adapters/llama_cpp.hpp>
#include <reckon/adapters/llama_cpp_prm.hpp>
#include <reckon/reckon.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  std::string path, prm_path, prompt;
  reckon::particle_filter_params params;
  params.n = 0;
  params.max_steps = 0;
  params.stepping.max_step_tokens = 32;
  params.stepping.temperature = 0.8f;
  std::uint64_t seed = 0;
  std::int32_t threads = 1; // ggml's spinning workers hurt on shared cores; raise it on a quiet machine
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    auto count = [&] { return static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10)); };
    if (flag == "--model") path = v;
    else if (flag == "--prm-model") prm_path = v;
    else if (flag == "--prompt") prompt = v;
    else if (flag == "--particles") params.n = count();
    else if (flag == "--steps") params.max_steps = count();
    else if (flag == "--step-tokens") params.stepping.max_step_tokens = count();
    else if (flag == "--seed") seed = std::strtoull(v, nullptr, 10);
    else if (flag == "--threads") threads = static_cast<std::int32_t>(std::strtol(v, nullptr, 10));
  }
  if (path.empty() || prompt.empty() || params.n == 0 || params.max_steps == 0 || threads <= 0) {
    fmt::print(stderr,
               "usage: {} --model PATH --prompt TEXT --particles N --steps S [--seed K] [--threads T] [--step-tokens T] "
               "[--prm-model PATH]\n",
               argv[0]);
    return 2;
  }
  params.stepping.max_total_tokens = params.stepping.max_step_tokens * params.max_steps;
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto policy_weights = reckon::llama_cpp::load_model(path);
  if (!policy_weights) return fmt::print(stderr, "{}\n", policy_weights.error().message), 1;
  reckon::llama_cpp::model_ptr prm_weights;
  if (!prm_path.empty()) {
    auto w = reckon::llama_cpp::load_model(prm_path);
    if (!w) return fmt::print(stderr, "{}\n", w.error().message), 1;
    prm_weights = std::move(*w);
  }
  try {
    // Survivors are forked before the old generation is released: 2n sequences on each side.
    const reckon::llama_cpp::context_params cp{.n_ctx = 8192, .n_seq_max = 2 * params.n, .n_threads = threads};
    reckon::llama_cpp::engine engine(reckon::llama_cpp::context_backend(policy_weights->get(), cp));
    reckon::metered model{engine}; // refers to engine; its ledger times the policy's calls alone
    reckon::llama_cpp::step_tag_prm prm(
        reckon::llama_cpp::context_backend(prm_weights ? prm_weights.get() : policy_weights->get(), cp));

    const reckon::problem problem{.id = reckon::stable_id(prompt), .prompt = prompt};
    const reckon::random_stream stream(reckon::stream_key{.seed = seed, .problem = problem.id});
    const auto started = std::chrono::steady_clock::now(); // the run, after loading
    const auto r = reckon::particle_filter(params).run(model, prm, problem, reckon::budget{}, stream);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!r) return fmt::print(stderr, "run failed ({}): {}\n", reckon::to_string(r.error().code), r.error().message), 1;

    const auto& c = engine.counters();
    const auto& p = prm.counters();
    const double policy_wall = model.ledger().wall_seconds;
    fmt::print("answer: {} (confidence {:.2f}, {} particles; step-tag PRM on {})\nledger: {:j}\n",
               r->answer.value_or("(no answer)"), r->confidence, r->samples,
               prm_weights ? "its own weights" : "the policy's weights, not a trained PRM: its scores are noise", r->cost);
    fmt::print("time: {:.3f} s in all; policy: {:.3f} s in model calls, {:.3f} s of it in llama_decode ({} calls), "
               "so reckon's share of the policy's model-call time is {:.1f}%; PRM: {:.3f} s in llama_decode ({} calls)\n",
               total, policy_wall, c.decode_seconds, c.decode_calls, 100.0 * (1.0 - c.decode_seconds / policy_wall),
               p.decode_seconds, p.decode_calls);
    fmt::print("policy: {:.0f} generated tokens/s; prefill saved by forking: {} tokens (decoded {} in all)\n",
               static_cast<double>(c.generated_tokens) / policy_wall, c.prefill_saved, c.decoded_tokens);
    fmt::print("PRM: {} calls, {} views ({} continued a cached prefix, {} re-scored from the prompt for want of a "
               "sequence); {} tokens decoded where re-scoring whole prefixes decodes {} ({:.1f}x)\n",
               p.calls, p.views, p.reused_views, p.fallbacks, p.decoded_tokens, p.whole_prefix_tokens,
               static_cast<double>(p.whole_prefix_tokens) / static_cast<double>(std::max<std::uint64_t>(1, p.decoded_tokens)));
  } catch (const reckon::exception& e) {
    return fmt::print(stderr, "{}\n", e.what()), 1;
  }
  return 0;
}
