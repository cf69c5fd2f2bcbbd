// SPDX-License-Identifier: Apache-2.0
// reckon::particle_filter over an in-process llama.cpp model, scored by an in-process judge PRM.
//
// usage: llama_cpp_particle_filter --model PATH --prompt TEXT --particles N --steps S [--seed K]
//                                  [--threads T] [--step-tokens T] [--judge-model PATH]
//
// The policy is reckon::llama_cpp::engine (one batched llama_decode per round for every live
// particle; a resampled duplicate is a llama_memory_seq_cp fork, so nothing is prefilled twice).
// The PRM is an LLM-as-a-judge on a second llama.cpp context (the policy's weights unless
// --judge-model names others): each step is scored by P(yes) / (P(yes) + P(no)) from the logits of
// " Yes" and " No" after a "Is the next step correct?" prompt, each prompt judged once (a particle
// filter re-scores every particle each round) and decoded after the KV cells it shares with the
// previous prompt. It is a prompted judge, not a trained PRM: on a random-weight test model
// (../shared/models/tiny-llama-random.gguf) its scores are noise and the run shows the plumbing
// and the costs, not the search's accuracy. It prints the answer, the ledger and where the time went.

#include <reckon/adapters/llama_cpp.hpp>
#include <reckon/reckon.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

/// A process reward model that asks a llama.cpp model whether each step is correct.
class llama_judge {
public:
  using reckon_model_concept = reckon::process_reward_model_tag;

  llama_judge(const llama_model* model, std::int32_t threads)
      : ctx_(model, {.n_ctx = 8192, .n_batch = 512, .n_seq_max = 1, .n_threads = threads}) {
    yes_ = last_token(" Yes");
    no_ = last_token(" No");
  }

  reckon::result<std::vector<std::vector<double>>> score_steps(const reckon::problem& p,
                                                               std::span<const reckon::solution_view> candidates) {
    std::vector<std::vector<double>> out(candidates.size());
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      std::string previous;
      for (const std::string& step : candidates[i].steps) {
        const std::string prompt = "Problem:\n" + p.prompt + "\n\nSolution so far:\n" + previous + "\n\nNext step:\n" +
                                   step + "\n\nIs the next step correct? Answer Yes or No.\nAnswer:";
        previous += step;
        auto score = judge(prompt);
        if (!score) return score.error();
        out[i].push_back(*score);
      }
    }
    return out;
  }

  std::uint64_t judged = 0, cached = 0, decoded = 0, reused = 0; // prompts and KV tokens
  double decode_seconds = 0.0;

private:
  std::int32_t last_token(const std::string& text) {
    const auto t = ctx_.tokenize(text, false);
    if (t.empty()) throw reckon::exception(reckon::errc::engine_failure, "judge: cannot tokenize '" + text + "'");
    return t.back();
  }

  reckon::result<double> judge(const std::string& prompt) {
    if (const auto it = cache_.find(prompt); it != cache_.end()) {
      ++cached;
      return it->second;
    }
    const std::vector<std::int32_t> tokens = ctx_.tokenize(prompt, true);
    if (tokens.empty() || tokens.size() >= ctx_.n_ctx())
      return reckon::fail(reckon::errc::engine_failure, "judge: the prompt does not fit the judge's context");
    // Keep the KV cells this prompt shares with the previous one; at least its last token is decoded.
    std::size_t keep = static_cast<std::size_t>(
        std::mismatch(tokens.begin(), tokens.end(), kv_.begin(), kv_.end()).first - tokens.begin());
    keep = std::min(keep, tokens.size() - 1);
    if (!ctx_.seq_rm(0, static_cast<std::int32_t>(keep), -1)) {
      ctx_.seq_rm(0, -1, -1);
      keep = 0;
    }
    kv_.assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(keep));
    reused += keep;
    std::vector<reckon::llama_cpp::batch_entry> batch;
    for (std::size_t from = keep; from < tokens.size(); from += ctx_.n_batch()) {
      const std::size_t to = std::min<std::size_t>(tokens.size(), from + ctx_.n_batch());
      batch.clear();
      for (std::size_t k = from; k < to; ++k)
        batch.push_back({tokens[k], static_cast<std::int32_t>(k), 0, k + 1 == tokens.size()});
      const auto t0 = std::chrono::steady_clock::now();
      const std::int32_t rc = ctx_.decode(batch);
      decode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rc != 0) {
        ctx_.seq_rm(0, -1, -1);
        kv_.clear();
        return reckon::llama_cpp::decode_error(rc);
      }
      decoded += to - from;
      kv_.insert(kv_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(from), tokens.begin() + static_cast<std::ptrdiff_t>(to));
    }
    const std::span<const float> row = ctx_.logits(static_cast<std::int32_t>(batch.size() - 1));
    if (row.empty()) return reckon::fail(reckon::errc::engine_failure, "judge: no logits row");
    // P(yes) / (P(yes) + P(no)) = sigmoid(logit_yes - logit_no): the softmax's normaliser cancels.
    const double score = 1.0 / (1.0 + std::exp(static_cast<double>(row[static_cast<std::size_t>(no_)]) -
                                               static_cast<double>(row[static_cast<std::size_t>(yes_)])));
    ++judged;
    cache_.emplace(prompt, score);
    return score;
  }

  reckon::llama_cpp::context_backend ctx_;
  std::int32_t yes_ = 0, no_ = 0;
  std::vector<std::int32_t> kv_; // the tokens in the judge's KV cache (sequence 0)
  std::unordered_map<std::string, double> cache_;
};

} // namespace

int main(int argc, char** argv) {
  std::string path, judge_path, prompt;
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
    else if (flag == "--judge-model") judge_path = v;
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
               "[--judge-model PATH]\n",
               argv[0]);
    return 2;
  }
  params.stepping.max_total_tokens = params.stepping.max_step_tokens * params.max_steps;
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  auto policy_weights = reckon::llama_cpp::load_model(path);
  if (!policy_weights) return fmt::print(stderr, "{}\n", policy_weights.error().message), 1;
  reckon::llama_cpp::model_ptr judge_weights;
  if (!judge_path.empty()) {
    auto w = reckon::llama_cpp::load_model(judge_path);
    if (!w) return fmt::print(stderr, "{}\n", w.error().message), 1;
    judge_weights = std::move(*w);
  }
  try {
    reckon::llama_cpp::context_params cp;
    cp.n_seq_max = 2 * params.n; // survivors are forked before the old generation is released
    cp.n_ctx = 8192;
    cp.n_threads = threads;
    reckon::llama_cpp::engine engine(reckon::llama_cpp::context_backend(policy_weights->get(), cp));
    reckon::metered model{engine}; // refers to engine; its ledger times the policy's calls alone
    llama_judge prm(judge_weights ? judge_weights.get() : policy_weights->get(), threads);

    const reckon::problem problem{.id = reckon::stable_id(prompt), .prompt = prompt};
    const reckon::random_stream stream(reckon::stream_key{.seed = seed, .problem = problem.id});
    const auto started = std::chrono::steady_clock::now(); // the run, after loading
    const auto r = reckon::particle_filter(params).run(model, prm, problem, reckon::budget{}, stream);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!r) return fmt::print(stderr, "run failed ({}): {}\n", reckon::to_string(r.error().code), r.error().message), 1;

    const auto& c = engine.counters();
    const double policy_wall = model.ledger().wall_seconds;
    fmt::print("answer: {} (confidence {:.2f}, {} particles; judge PRM on {} weights)\nledger: {:j}\n",
               r->answer.value_or("(no answer)"), r->confidence, r->samples,
               judge_weights ? "other" : "the policy's", r->cost);
    fmt::print("time: {:.3f} s in all; policy: {:.3f} s in model calls, {:.3f} s of it in llama_decode ({} calls), "
               "so reckon's share of the policy's model-call time is {:.1f}%; judge: {:.3f} s in llama_decode\n",
               total, policy_wall, c.decode_seconds, c.decode_calls, 100.0 * (1.0 - c.decode_seconds / policy_wall),
               prm.decode_seconds);
    fmt::print("policy: {:.0f} generated tokens/s; prefill saved by forking: {} tokens (decoded {} in all)\n",
               static_cast<double>(c.generated_tokens) / policy_wall, c.prefill_saved, c.decoded_tokens);
    fmt::print("judge: {} prompts judged, {} from the cache; {} tokens decoded, {} re-used from the previous prompt's KV\n",
               prm.judged, prm.cached, prm.decoded, prm.reused);
  } catch (const reckon::exception& e) {
    return fmt::print(stderr, "{}\n", e.what()), 1;
  }
  return 0;
}
