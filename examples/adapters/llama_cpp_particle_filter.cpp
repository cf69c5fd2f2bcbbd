// SPDX-License-Identifier: Apache-2.0
// A particle filter over an in-process llama.cpp model: one batched decode per step, forks share the prefix.
//
// usage: llama_cpp_particle_filter --model PATH --prompt TEXT --particles N --steps S [--seed K] [--threads T]
//
// The particle filter strategy is a later issue; this is the simplest loop on the building blocks
// that exist: extend all live particles by one step (one llama_decode per round), score each step
// with a HEURISTIC PRM (the geometric-mean token probability of the step, exp(mean logprob): no
// trained reward model), resample systematically from the weights, fork the survivors, release the
// rest. It prints the answer, the ledger as JSON and where the time went.

#include <reckon/adapters/llama_cpp.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/resample/resampler.hpp>
#include <reckon/resample/systematic.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string path, prompt;
  std::uint32_t particles = 0, steps = 0;
  std::uint64_t seed = 0;
  std::int32_t threads = 1; // ggml's spinning workers hurt on shared cores; raise it on a quiet machine
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--model") path = argv[i + 1];
    else if (flag == "--prompt") prompt = argv[i + 1];
    else if (flag == "--particles") particles = static_cast<std::uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else if (flag == "--steps") steps = static_cast<std::uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else if (flag == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--threads") threads = static_cast<std::int32_t>(std::strtol(argv[i + 1], nullptr, 10));
  }
  if (path.empty() || prompt.empty() || particles == 0 || steps == 0) {
    fmt::print(stderr, "usage: {} --model PATH --prompt TEXT --particles N --steps S [--seed K]\n", argv[0]);
    return 2;
  }
  auto weights_file = reckon::llama_cpp::load_model(path);
  if (!weights_file) return fmt::print(stderr, "{}\n", weights_file.error().message), 1;
  reckon::llama_cpp::context_params cp;
  cp.n_seq_max = 2 * particles; // survivors are forked before the old generation is released
  cp.n_ctx = 8192;
  cp.n_threads = threads;
  reckon::llama_cpp::engine engine(reckon::llama_cpp::context_backend(weights_file->get(), cp));
  reckon::metered model{engine}; // refers to engine, keeps the ledger
  const auto started = std::chrono::steady_clock::now(); // the run, after loading

  const reckon::problem prob{.id = reckon::stable_id(prompt), .prompt = prompt};
  reckon::step_params sp;
  sp.max_step_tokens = 32;
  sp.max_total_tokens = 32 * steps;
  sp.temperature = 0.8f;
  sp.stats.logprobs = true;

  using seq = reckon::llama_cpp::engine::sequence;
  std::vector<seq> live{model.begin(prob).value()};
  for (std::uint32_t i = 1; i < particles; ++i) live.push_back(model.fork(live[0]).value());
  std::vector<std::string> text(particles);
  std::vector<bool> done(particles, false);
  std::vector<double> log_w(particles, 0.0);
  reckon::random_stream rng(seed, prob.id);

  for (std::uint32_t s = 0; s < steps; ++s) {
    std::vector<seq> batch;
    std::vector<std::size_t> who;
    std::vector<std::uint64_t> seeds;
    for (std::uint32_t i = 0; i < particles; ++i)
      if (!done[i]) {
        batch.push_back(live[i]);
        who.push_back(i);
        reckon::random_stream ps(seed, prob.id, i, s);
        seeds.push_back(reckon::request_seed(ps));
      }
    if (batch.empty()) break;
    auto r = model.extend(batch, sp, seeds);
    if (!r) return fmt::print(stderr, "extend: {}\n", r.error().message), 1;
    for (std::size_t k = 0; k < who.size(); ++k) {
      const auto& st = r->steps[k];
      double mean = 0.0;
      for (const float lp : st.stats.logprob) mean += lp;
      mean = st.stats.logprob.empty() ? 0.0 : mean / static_cast<double>(st.stats.logprob.size());
      log_w[who[k]] = mean; // heuristic PRM score exp(mean logprob), in log space
      text[who[k]] += st.text;
      done[who[k]] = st.done;
    }
    // Resample: fork each chosen ancestor, then release the old generation.
    const auto anc = reckon::resample_log_weights(reckon::systematic_resampler{}, std::span<const double>(log_w), particles, rng);
    std::vector<seq> next;
    std::vector<std::string> next_text;
    std::vector<bool> next_done;
    std::vector<double> next_w;
    for (const std::size_t a : anc) {
      auto child = model.fork(live[a]);
      if (!child) return fmt::print(stderr, "fork: {}\n", child.error().message), 1;
      next.push_back(*child);
      next_text.push_back(text[a]);
      next_done.push_back(done[a]);
      next_w.push_back(log_w[a]);
    }
    for (const seq q : live) model.release(q);
    live = std::move(next);
    text = std::move(next_text);
    done = std::move(next_done);
    log_w = std::move(next_w);
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < particles; ++i)
    if (log_w[i] > log_w[best]) best = i;
  for (const seq q : live) model.release(q);

  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto& c = engine.counters();
  fmt::print("answer (particle {}, heuristic PRM {:.3f}):\n{}\n", best, std::exp(log_w[best]), text[best]);
  fmt::print("ledger: {:j}\n", model.ledger());
  fmt::print("time: {:.3f} s in llama_decode ({} calls) of {:.3f} s total ({:.3f} s in model calls); "
             "orchestration overhead {:.1f}% of model-call time\n",
             c.decode_seconds, c.decode_calls, total, model.ledger().wall_seconds,
             100.0 * (1.0 - c.decode_seconds / model.ledger().wall_seconds));
  fmt::print("throughput: {:.0f} generated tokens/s, {:.0f} decoded tokens/s; prefill saved by forking: {} tokens "
             "(decoded {} tokens in all)\n",
             static_cast<double>(c.generated_tokens) / total, static_cast<double>(c.decoded_tokens) / total,
             c.prefill_saved, c.decoded_tokens);
  return 0;
}
