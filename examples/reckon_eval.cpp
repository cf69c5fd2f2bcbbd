// SPDX-License-Identifier: Apache-2.0
// reckon-eval: evaluate strategies on the synthetic suites or on recorded samples (JSON Lines).
#include <reckon/eval/calibrate.hpp>
#include <reckon/eval/determinism.hpp>
#include <reckon/eval/harness.hpp>
#include <reckon/eval/strategies.hpp>
#include <reckon/eval/report.hpp>
#include <reckon/testing/replay_model.hpp>
#include <reckon/testing/suite.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#if defined(_WIN32)
#include <io.h>
static bool stderr_is_terminal() { return _isatty(_fileno(stderr)) != 0; }
#else
#include <unistd.h>
static bool stderr_is_terminal() { return isatty(STDERR_FILENO) != 0; }
#endif

namespace {

constexpr const char* usage = R"(usage:
  reckon-eval suites
  reckon-eval strategies
  reckon-eval synthetic --suite S --strategy X --budget B [--seed K] [--problems N] [--threads T]
                        [--process standard|lenient] [--json]
  reckon-eval frontier --suite S --strategies X,Y,... --budgets B1,B2,... [--seed K] [--problems N]
                       [--threads T] [--process standard|lenient] [--csv FILE] [--svg FILE] [--json]
  reckon-eval replay --data FILE --strategy X --n N [--trials K] [--seed K] [--threads T] [--extract]
                     [--skip-incomplete] [--reward-scale logit|prob] [--json]
  reckon-eval determinism --suite S [--problems N] [--steps K] [--batch B] [--seed K] [--json]
  reckon-eval calibrate --data FILE [--seed K] [--problems N] [--evaluations E] [--threads T] [--json]

--process: the synthetic instrument's parameter set. standard (the default): trap steps that some
problems never pass, path lengths that vary per path (wrong paths ramble or stop early), agent-
dependent confidence, reward quality falling with difficulty; lenient: the process before these
(every problem solvable, every path of a problem equally long), to reproduce earlier figures.

--reward-scale: how recorded rewards are read. prob: probabilities in [0, 1], used as they are;
logit: raw reward-model scores, any finite value, used as sigmoid(x) (best-of-n picks the largest
raw score either way; weighted votes add the mapped values). Default: prob when every reward in
the file lies in [0, 1], else logit.

determinism: the reproducibility audit on the synthetic model: each problem's sequence is stepped
alone, then inside a batch of B live sequences, and compared (text, answer, token count, the first
token whose logprob differs, the largest logprob difference). The synthetic model must show none;
run reckon::eval::audit_determinism on an engine adapter to measure an engine.

calibrate: fits the synthetic suite's difficulty mix (difficulty_power), per-step error range
(step_error_min, step_error_max), distractor skew and ORM separation so that pass@k, majority@k and
best-of-k by reward (k = 1, 2, 4, 8; the mean over every k-subset of each problem's samples) on the
synthetic model match the recording's; prints both curves, the fitted parameters and the largest
deviation, on the fit's suite and on a fresh one (its Monte-Carlo noise). FILE needs a reward on
every sample and at least 8 samples per problem. --problems: the synthetic suite's size (default
6000); --evaluations: the refinement's budget of suite evaluations after the coarse grid (default
160); --seed: the suite and sampling seeds (common to every evaluation of the fit).
)";

struct usage_error {
  std::string message;
};

using flag_map = std::map<std::string, std::string>;

// Parses --flag value / --flag=value; `switches` take no value. Unknown flags are errors.
flag_map parse_flags(int argc, char** argv, const std::set<std::string>& valued, const std::set<std::string>& switches) {
  flag_map out;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i], value;
    const bool has_eq = arg.find('=') != std::string::npos;
    if (has_eq) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
    }
    if (switches.count(arg) != 0) {
      // A switch is on by being there: "--json=0" reading as on, or as an unknown flag, misleads.
      if (has_eq) throw usage_error{fmt::format("{} takes no value (got '{}')", arg, argv[i])};
      out[arg] = "1";
    } else if (valued.count(arg) != 0) {
      if (!has_eq) {
        if (i + 1 >= argc) throw usage_error{fmt::format("{} needs a value", arg)};
        value = argv[++i];
      }
      out[arg] = value;
    } else {
      throw usage_error{fmt::format("unknown flag '{}' for '{}'", arg, argv[1])};
    }
  }
  return out;
}

const std::string& required(const flag_map& f, const std::string& name) {
  const auto it = f.find(name);
  if (it == f.end() || it->second.empty()) throw usage_error{fmt::format("{} is required", name)};
  return it->second;
}

std::uint64_t number(const std::string& flag, std::string_view text, bool positive) {
  std::uint64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || (positive && v == 0))
    throw usage_error{fmt::format("{}: expected a {} integer, got '{}'", flag, positive ? "positive" : "non-negative", text)};
  return v;
}

std::uint64_t number_or(const flag_map& f, const std::string& name, std::uint64_t fallback, bool positive) {
  const auto it = f.find(name);
  return it == f.end() ? fallback : number(name, it->second, positive);
}

std::vector<std::string> split_list(const std::string& flag, const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    if (end == pos) throw usage_error{fmt::format("{}: empty item in '{}'", flag, text)};
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

reckon::eval::progress_fn progress_line() {
  if (!stderr_is_terminal()) return {};
  return [](std::size_t done, std::size_t total) {
    if (done % 64 == 0 || done == total)
      fmt::print(stderr, "\r[{}/{}] {:.0f}%{}", done, total, 100.0 * done / total, done == total ? "\r\x1b[K" : "");
  };
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out || !(out << text)) throw usage_error{fmt::format("cannot write '{}'", path)};
}

void print_rows(const std::vector<reckon::eval::result_row>& rows, bool json) {
  if (json)
    for (const auto& r : rows) fmt::print("{}\n", reckon::eval::to_json(r));
  else
    fmt::print("{}", reckon::eval::to_table(rows));
  for (const auto& r : rows)
    if (r.errors > 0)
      fmt::print(stderr, "reckon-eval: warning: {} of {} runs of {} failed (counted wrong); first: {}\n", r.errors,
                 r.problems, r.strategy, r.first_error);
}

template <class T>
T check(reckon::result<T> r) {
  if (!r) throw usage_error{r.error().message};
  return std::move(*r);
}

// An ifstream opens a directory and reads nothing from it, which load_replay would report as a
// file without problems.
int run(int argc, char** argv) {
  if (argc < 2) throw usage_error{"missing command"};
  const std::string cmd = argv[1];
  const auto& registry = reckon::eval::default_registry();
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    fmt::print("{}", usage);
    return 0;
  }
  if (cmd == "suites") {
    parse_flags(argc, argv, {}, {});
    for (auto name : reckon::testing::suite_names()) fmt::print("{:<15}  {}\n", name, reckon::testing::suite_description(name));
    return 0;
  }
  if (cmd == "strategies") {
    parse_flags(argc, argv, {}, {});
    for (const auto& e : registry.entries())
      fmt::print("{:<20}  {:<16}  {}\n", e.name, e.replay ? "synthetic,replay" : "synthetic", e.description);
    return 0;
  }
  if (cmd == "synthetic" || cmd == "frontier") {
    const bool frontier = cmd == "frontier";
    const auto f = frontier ? parse_flags(argc, argv, {"--suite", "--strategies", "--budgets", "--seed", "--problems", "--threads", "--csv", "--svg", "--process"}, {"--json"})
                            : parse_flags(argc, argv, {"--suite", "--strategy", "--budget", "--seed", "--problems", "--threads", "--process"}, {"--json"});
    const std::string suite_name = required(f, "--suite");
    const std::uint64_t seed = number_or(f, "--seed", 0, false);
    reckon::eval::grid_params g;
    g.seed = seed;
    g.threads = number_or(f, "--threads", 0, true);
    g.problems = number_or(f, "--problems", 0, true);
    if (frontier) {
      g.strategies = split_list("--strategies", required(f, "--strategies"));
      for (const auto& b : split_list("--budgets", required(f, "--budgets")))
        g.budgets.push_back(static_cast<std::uint32_t>(number("--budgets", b, true)));
    } else {
      g.strategies = {required(f, "--strategy")};
      g.budgets = {static_cast<std::uint32_t>(number("--budget", required(f, "--budget"), true))};
    }
    for (const auto b : g.budgets)
      if (b > 1u << 20) throw usage_error{"budgets above 1048576 are not supported"};
    auto set = reckon::testing::parameter_set::standard;
    if (const auto it = f.find("--process"); it != f.end()) {
      if (it->second == "lenient") set = reckon::testing::parameter_set::lenient;
      else if (it->second != "standard") throw usage_error{fmt::format("--process: expected standard or lenient, got '{}'", it->second)};
    }
    const auto suite = check(reckon::testing::make_suite(suite_name, reckon::testing::default_suite_seed, 0, set));
    g.model = reckon::testing::params_for(suite, set);
    g.progress = progress_line();
    const auto rows = check(reckon::eval::run_grid(suite, registry, g));
    print_rows(rows, f.count("--json") != 0);
    if (f.count("--csv")) write_file(f.at("--csv"), reckon::eval::to_csv(rows));
    if (f.count("--svg"))
      write_file(f.at("--svg"), reckon::eval::to_svg(rows, reckon::eval::plot_params{
                                                               "Accuracy vs compute",
                                                               fmt::format("synthetic suite '{}', {} problems, seed {}",
                                                                           suite_name, rows.front().problems, seed),
                                                               900, 500}));
    return 0;
  }
  if (cmd == "replay") {
    const auto f = parse_flags(argc, argv, {"--data", "--strategy", "--n", "--trials", "--seed", "--threads", "--reward-scale"},
                               {"--extract", "--skip-incomplete", "--json"});
    reckon::eval::replay_run_params p;
    const std::string path = required(f, "--data");
    p.strategy = required(f, "--strategy");
    p.n = static_cast<std::uint32_t>(number("--n", required(f, "--n"), true));
    p.trials = static_cast<std::uint32_t>(number_or(f, "--trials", 1, true));
    p.seed = number_or(f, "--seed", 0, false);
    p.threads = number_or(f, "--threads", 0, true);
    p.extract = f.count("--extract") != 0;
    reckon::testing::replay_params rp;
    rp.skip_incomplete = f.count("--skip-incomplete") != 0;
    if (const auto it = f.find("--reward-scale"); it != f.end()) {
      if (it->second == "logit") rp.scale = reckon::testing::reward_scale::logit;
      else if (it->second == "prob") rp.scale = reckon::testing::reward_scale::prob;
      else throw usage_error{fmt::format("--reward-scale: expected logit or prob, got '{}'", it->second)};
    }
    auto data = check(reckon::testing::load_replay(path, rp));
    for (const auto& s : data.skipped) fmt::print(stderr, "reckon-eval: skipped {}\n", s);
    if (rp.scale == reckon::testing::reward_scale::automatic && data.scale == reckon::testing::reward_scale::logit)
      fmt::print(stderr, "reckon-eval: rewards outside [0, 1]: read as logits, weighted by sigmoid (--reward-scale)\n");
    p.progress = progress_line();
    const auto row = check(reckon::eval::run_replay(std::make_shared<const reckon::testing::replay_data>(std::move(data)),
                                                    registry, p));
    print_rows({row}, f.count("--json") != 0);
    return 0;
  }
  if (cmd == "determinism") {
    const auto f = parse_flags(argc, argv, {"--suite", "--problems", "--steps", "--batch", "--seed"}, {"--json"});
    const auto suite = check(reckon::testing::make_suite(required(f, "--suite"), reckon::testing::default_suite_seed));
    const std::size_t n = std::min<std::size_t>(number_or(f, "--problems", 64, true), suite.problems.size());
    const std::uint64_t seed = number_or(f, "--seed", 0, false);
    std::vector<reckon::eval::determinism_request> requests;
    for (std::size_t i = 0; i < n; ++i) requests.push_back({suite.problems[i].as_problem(), seed * 1000003 + i});
    reckon::eval::determinism_params dp;
    dp.steps = static_cast<std::uint32_t>(number_or(f, "--steps", 16, true));
    dp.batch = static_cast<std::uint32_t>(number_or(f, "--batch", 8, true));
    if (dp.batch < 2) throw usage_error{"--batch: expected at least 2"};
    reckon::testing::synthetic_model alone(suite), batched(suite);
    const auto r = check(reckon::eval::audit_determinism(alone, batched, requests, dp));
    if (f.count("--json") != 0) {
      fmt::print("{{\"engine\":\"synthetic\",\"requests\":{},\"batch\":{},\"steps\":{},\"text_changed\":{},"
                 "\"answer_changed\":{},\"tokens_changed\":{},\"numerics_changed\":{},\"max_logprob_diff\":{}}}\n",
                 r.rows.size(), dp.batch, dp.steps, r.text_changed, r.answer_changed, r.tokens_changed, r.numerics_changed,
                 r.max_logprob_diff);
    } else {
      fmt::print("synthetic model, {} requests, {} steps, batch {}: text changed {:.3f}, answer {:.3f}, tokens {:.3f}, "
                 "logprobs {:.3f}; largest logprob difference {:.3g}\n",
                 r.rows.size(), dp.steps, dp.batch, r.text_changed, r.answer_changed, r.tokens_changed, r.numerics_changed,
                 r.max_logprob_diff);
    }
    return 0;
  }
  if (cmd == "calibrate") {
    const auto f = parse_flags(argc, argv, {"--data", "--seed", "--problems", "--evaluations", "--threads"}, {"--json"});
    const auto data = check(reckon::testing::load_replay(required(f, "--data")));
    reckon::eval::calibration_params cp;
    const std::uint64_t seed = number_or(f, "--seed", 0, false);
    cp.synthetic.seed = seed;
    cp.synthetic.suite_seed = reckon::testing::default_suite_seed + seed;
    cp.synthetic.threads = number_or(f, "--threads", 0, true);
    cp.suite.size = number_or(f, "--problems", cp.suite.size, true);
    if (cp.suite.size > 1u << 20) throw usage_error{"--problems above 1048576 is not supported"};
    cp.max_evaluations = number_or(f, "--evaluations", cp.max_evaluations, true);
    if (stderr_is_terminal())
      cp.progress = [](std::size_t done, std::size_t total) {
        fmt::print(stderr, "\r[{}/{}] fitting", done, total);
      };
    const auto r = check(reckon::eval::calibrate(data, cp));
    if (stderr_is_terminal()) fmt::print(stderr, "\r\x1b[K");
    fmt::print("{}", f.count("--json") != 0 ? reckon::eval::to_json(r) + "\n" : reckon::eval::to_table(r));
    return 0;
  }
  throw usage_error{fmt::format("unknown command '{}'", cmd)};
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const usage_error& e) {
    fmt::print(stderr, "reckon-eval: {}\n", e.message);
    if (e.message == "missing command") fmt::print(stderr, "{}", usage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "reckon-eval: {}\n", e.what());
    return 1;
  }
}
