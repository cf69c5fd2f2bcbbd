// SPDX-License-Identifier: Apache-2.0
// Writers for result rows: an aligned text table, CSV, JSON Lines, and an SVG accuracy-vs-tokens plot.
#pragma once

#include <reckon/eval/harness.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace reckon::eval {

/// One row as the reckon-eval JSON object, keys in this order: "strategy", "budget" (or "n" for
/// replay rows), "accuracy", "ci95": [lo, hi], "tokens_mean", "calls_mean", "prm_calls_mean",
/// "problems", "kv_peak_mean", "kv_mean" (the KV a prefix-sharing cache held: the peak, and the
/// mean over engine rounds, each averaged over runs; added last so older readers keep working).
/// Means are JSON numbers with a fraction (1200.0); a non-finite one is null. No trailing newline.
[[nodiscard]] inline std::string to_json(const result_row& r) {
  nlohmann::ordered_json j;
  j["strategy"] = r.strategy;
  j[r.budget_is_n ? "n" : "budget"] = r.budget;
  j["accuracy"] = r.accuracy;
  j["ci95"] = {r.ci_low, r.ci_high};
  j["tokens_mean"] = r.tokens_mean;
  j["calls_mean"] = r.calls_mean;
  j["prm_calls_mean"] = r.prm_calls_mean;
  j["problems"] = r.problems;
  j["kv_peak_mean"] = r.kv_peak_mean;
  j["kv_mean"] = r.kv_mean;
  // Strict UTF-8 would throw on a name with invalid bytes; replace them instead (a report must print).
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

/// The rows as CSV with a header line (RFC 4180 quoting for the strategy name).
[[nodiscard]] inline std::string to_csv(std::span<const result_row> rows) {
  std::string out =
      "strategy,budget,accuracy,ci95_low,ci95_high,tokens_mean,calls_mean,prm_calls_mean,problems,answered,errors,"
      "kv_peak_mean,kv_mean\n";
  for (const auto& r : rows) {
    std::string name = r.strategy;
    if (name.find_first_of(",\"\n") != std::string::npos) {
      std::string quoted = "\"";
      for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      name = quoted + "\"";
    }
    out += fmt::format("{},{},{:.6f},{:.6f},{:.6f},{:.3f},{:.3f},{:.3f},{},{},{},{:.3f},{:.3f}\n", name, r.budget, r.accuracy,
                       r.ci_low, r.ci_high, r.tokens_mean, r.calls_mean, r.prm_calls_mean, r.problems, r.answered, r.errors,
                       r.kv_peak_mean, r.kv_mean);
  }
  return out;
}

/// The rows as an aligned text table for people.
[[nodiscard]] inline std::string to_table(std::span<const result_row> rows) {
  std::size_t w = 8;
  for (const auto& r : rows) w = std::max(w, r.strategy.size());
  const char* unit = !rows.empty() && rows.front().budget_is_n ? "n" : "budget";
  std::string out = fmt::format("{:<{}}  {:>6}  {:>8}  {:>15}  {:>10}  {:>6}  {:>9}  {:>8}\n", "strategy", w, unit,
                                "accuracy", "95% CI", "tokens", "calls", "prm calls", "problems");
  for (const auto& r : rows)
    out += fmt::format("{:<{}}  {:>6}  {:>8.3f}  {:>15}  {:>10.0f}  {:>6.2f}  {:>9.2f}  {:>8}\n", r.strategy, w, r.budget,
                       r.accuracy, fmt::format("[{:.3f}, {:.3f}]", r.ci_low, r.ci_high), r.tokens_mean, r.calls_mean,
                       r.prm_calls_mean, r.problems);
  return out;
}

/// What the plot says around the data.
struct plot_params {
  std::string title = "Accuracy vs compute"; ///< the title line
  std::string subtitle;                       ///< a second line (suite, seed, ...); empty: none
  int width = 900;                            ///< SVG width in px
  int height = 500;                           ///< SVG height in px
};

} // namespace reckon::eval

namespace reckon::detail::plot {
inline std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}
} // namespace reckon::detail::plot

namespace reckon::eval {

/// An SVG plot: accuracy (y, with the 95% interval as a bar) against mean tokens per problem (x, log
/// scale), one line per strategy through its budgets in increasing order, a legend and axis labels.
/// Throws reckon::exception (invalid_argument) when there are no rows or a row has no tokens.
[[nodiscard]] inline std::string to_svg(std::span<const result_row> rows, const plot_params& params = {}) {
  reckon::detail::require(!rows.empty(), "to_svg: no rows");
  for (const auto& r : rows) reckon::detail::require(r.tokens_mean > 0.0, "to_svg: every row needs tokens_mean > 0");
  // Series in first-appearance order.
  std::vector<std::string> names;
  for (const auto& r : rows)
    if (std::find(names.begin(), names.end(), r.strategy) == names.end()) names.push_back(r.strategy);
  double xmin = rows[0].tokens_mean, xmax = xmin, ymin = 1.0, ymax = 0.0;
  for (const auto& r : rows) {
    xmin = std::min(xmin, r.tokens_mean);
    xmax = std::max(xmax, r.tokens_mean);
    ymin = std::min(ymin, r.ci_low);
    ymax = std::max(ymax, r.ci_high);
  }
  // x: whole decades around the data when close, else the data padded by 10% (log space).
  double lx0 = std::log10(xmin), lx1 = std::log10(xmax);
  const double pad = std::max(0.05, 0.08 * (lx1 - lx0));
  lx0 -= pad;
  lx1 += pad;
  // y: tenths around the data.
  double y0 = std::max(0.0, std::floor(ymin * 10.0 - 0.2) / 10.0), y1 = std::min(1.0, std::ceil(ymax * 10.0 + 0.2) / 10.0);
  if (y1 - y0 < 0.2) y1 = std::min(1.0, y0 + 0.2), y0 = std::max(0.0, y1 - 0.2);
  // The legend sits right of the plot, so it never hides data.
  std::size_t longest = 0;
  for (const auto& n : names) longest = std::max(longest, n.size());
  const double lw = 36 + 6.6 * static_cast<double>(longest), lh = 8 + 18.0 * static_cast<double>(names.size());
  const double left = 72, right = lw + 28, top = params.subtitle.empty() ? 48 : 64, bottom = 64;
  const double pw = params.width - left - right, ph = params.height - top - bottom;
  auto X = [&](double tokens) { return left + (std::log10(tokens) - lx0) / (lx1 - lx0) * pw; };
  auto Y = [&](double acc) { return top + (1.0 - (acc - y0) / (y1 - y0)) * ph; };
  static constexpr const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                            "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  // After ten series the colours repeat; each round of ten gets its own dash pattern.
  static constexpr const char* dashes[] = {"none", "7 3", "2 3", "9 3 2 3"};
  auto dash = [](std::size_t si) { return dashes[(si / 10) % 4]; };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      params.width, params.height);
  s += fmt::format("<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
                   params.width / 2.0, reckon::detail::plot::xml_escape(params.title));
  if (!params.subtitle.empty())
    s += fmt::format("<text x=\"{}\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n", params.width / 2.0,
                     reckon::detail::plot::xml_escape(params.subtitle));
  // Grid and ticks: x at 1, 2, 5 x 10^k; y every 0.1 (0.05 when the range is small).
  s += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  std::string labels;
  for (int k = static_cast<int>(std::floor(lx0)); k <= static_cast<int>(std::ceil(lx1)); ++k)
    for (const double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, k);
      const double lv = std::log10(v);
      if (lv < lx0 || lv > lx1) continue;
      s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n", X(v), top, top + ph);
      const std::string text = v >= 1000 ? fmt::format("{:g}k", v / 1000) : fmt::format("{:g}", v);
      labels += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", X(v), top + ph + 18, text);
    }
  const double ystep = (y1 - y0) <= 0.31 ? 0.05 : 0.1;
  for (double v = y0; v <= y1 + 1e-9; v += ystep) {
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\"/>\n", left, Y(v), left + pw);
    labels += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.2f}</text>\n", left - 8, Y(v) + 4, v);
  }
  s += "</g>\n" + labels;
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", left, top, pw, ph);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">mean tokens per problem (generated + "
                   "prefilled, log scale)</text>\n",
                   left + pw / 2, static_cast<double>(params.height) - 20);
  s += fmt::format("<text transform=\"translate(20 {:.1f}) rotate(-90)\" text-anchor=\"middle\">accuracy (95% "
                   "interval)</text>\n",
                   top + ph / 2);
  // Series.
  for (std::size_t si = 0; si < names.size(); ++si) {
    const char* colour = palette[si % 10];
    std::vector<const result_row*> pts;
    for (const auto& r : rows)
      if (r.strategy == names[si]) pts.push_back(&r);
    std::sort(pts.begin(), pts.end(), [](const result_row* a, const result_row* b) { return a->budget < b->budget; });
    std::string path;
    for (const auto* r : pts) path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", X(r->tokens_mean), Y(r->accuracy));
    s += fmt::format("<g stroke=\"{0}\" fill=\"{0}\">\n<polyline points=\"{1}\" fill=\"none\" stroke-width=\"2\" "
                     "stroke-dasharray=\"{2}\"/>\n",
                     colour, path, dash(si));
    for (const auto* r : pts) {
      s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke-width=\"1\" "
                       "stroke-opacity=\"0.5\"/>\n",
                       X(r->tokens_mean), Y(r->ci_low), Y(r->ci_high));
      s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\"><title>{} budget {}: accuracy {:.3f}, {:.0f} "
                       "tokens</title></circle>\n",
                       X(r->tokens_mean), Y(r->accuracy), reckon::detail::plot::xml_escape(r->strategy), r->budget, r->accuracy,
                       r->tokens_mean);
    }
    s += "</g>\n";
  }
  // Legend.
  const double lx = left + pw + 14, ly = top;
  s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"white\" "
                   "fill-opacity=\"0.9\" stroke=\"#999\"/>\n",
                   lx, ly, lw, lh);
  for (std::size_t si = 0; si < names.size(); ++si) {
    const double yy = ly + 16 + 18.0 * static_cast<double>(si);
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\" "
                     "stroke-dasharray=\"{}\"/>\n",
                     lx + 6, yy - 4, lx + 28, yy - 4, palette[si % 10], dash(si));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", lx + 32, yy, reckon::detail::plot::xml_escape(names[si]));
  }
  s += "</svg>\n";
  return s;
}

} // namespace reckon::eval
