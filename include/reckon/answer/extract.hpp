// SPDX-License-Identifier: Apache-2.0
// Answer extractors: policies that find the final answer in a model's text, or say there is none.
#pragma once

#include <concepts>
#include <cstring>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// An extractor: a callable `std::string_view -> std::optional<std::string>` that returns the raw
/// answer text found in a completion, or `std::nullopt` when the text holds no answer.
///
/// An extractor must never return an engaged empty string for "no answer" (`first_of` and
/// `extract_and_canonicalize` treat one as no answer anyway). The built-in extractors are total:
/// any bytes in, no exception but `std::bad_alloc`, time linear in the text's length.
///
/// Customization: any callable with that signature is an extractor, e.g.
/// @code
/// auto after_colon = [](std::string_view t) -> std::optional<std::string> {
///   auto p = t.rfind("ANSWER:");
///   if (p == std::string_view::npos) return std::nullopt;
///   return std::string(t.substr(p + 7));
/// };
/// auto a = reckon::extract_and_canonicalize(text, after_colon);
/// @endcode
template <class E>
concept answer_extractor =
    std::invocable<const E&, std::string_view> &&
    std::convertible_to<std::invoke_result_t<const E&, std::string_view>, std::optional<std::string>>;

namespace detail {

constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

/// The trimmed text as an answer, or nullopt when nothing is left.
inline std::optional<std::string> non_empty(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  return std::string(s);
}

/// True when `s` at `pos` starts with `word` not followed by a letter (a whole TeX command name).
constexpr bool command_at(std::string_view s, std::size_t pos, std::string_view word) noexcept {
  if (s.size() - pos < word.size() || s.substr(pos, word.size()) != word) return false;
  const std::size_t end = pos + word.size();
  return end == s.size() || !is_alpha(s[end]);
}

/// The last position before `end` holding `c`, or npos: memrchr where the C library has it
/// (these backward searches run over every completion, so they should cost a memchr).
inline std::size_t last_char(std::string_view s, char c, std::size_t end) noexcept {
  end = end < s.size() ? end : s.size();
#if defined(__GLIBC__)
  const void* hit = ::memrchr(s.data(), c, end);
  return hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - s.data()) : std::string_view::npos;
#else
  return end == 0 ? std::string_view::npos : s.substr(0, end).rfind(c);
#endif
}

/// The start of the last `needle` that ends at or before `end`, searching by its first character.
inline std::size_t last_of(std::string_view s, std::string_view needle, std::size_t end) noexcept {
  const std::size_t npos = std::string_view::npos;
  end = end < s.size() ? end : s.size();
  if (needle.empty() || end < needle.size()) return npos;
  for (std::size_t q = last_char(s, needle[0], end - needle.size() + 1); q != npos;
       q = q == 0 ? npos : last_char(s, needle[0], q)) {
    if (s.substr(q, needle.size()) == needle) return q;
  }
  return npos;
}

/// The name a span `name = value` assigns (`x` for `x = -3`), or "" when it is no such span:
/// one '=', and a left side of at most 12 characters with no operator or digit first.
inline std::string_view assigned_name(std::string_view s) noexcept {
  const auto eq = s.find('=');
  if (eq == std::string_view::npos || eq == 0 || s.find('=', eq + 1) != std::string_view::npos) return {};
  const auto name = trim(s.substr(0, eq));
  if (name.empty() || name.size() > 12 || is_digit(name[0])) return {};
  for (char c : name)
    if (c == '+' || c == '-' || c == '*' || c == '/' || c == '<' || c == '>' || c == ' ') return {};
  return name;
}

/// Whether text between two answers only separates them: spaces, ',', ';', "and", "or".
inline bool only_separators(std::string_view s) noexcept {
  for (std::size_t p = 0; p < s.size();) {
    if (is_space(s[p]) || s[p] == ',' || s[p] == ';') ++p;
    else if (s.substr(p, 3) == "and" && (p + 3 == s.size() || !is_alpha(s[p + 3]))) p += 3;
    else if (s.substr(p, 2) == "or" && (p + 2 == s.size() || !is_alpha(s[p + 2]))) p += 2;
    else return false;
  }
  return true;
}

/// `a = b = c` -> `c` (two or more `=` outside braces and brackets, and no top-level comma);
/// anything else whole.
/// `\leq`, `<`, `\approx` and friends stop the chain: `$0 < x = 3$` is kept.
inline std::optional<std::string> last_of_chain(std::string_view s) {
  int depth = 0;
  std::size_t count = 0, last = 0;
  for (std::size_t p = 0; p < s.size(); ++p) {
    const char c = s[p];
    if (c == '\\') {
      if (p + 1 < s.size() && s[p + 1] == '{') ++depth;
      else if (p + 1 < s.size() && s[p + 1] == '}') --depth;
      ++p;
      continue;
    }
    if (c == '{' || c == '(' || c == '[') ++depth;
    else if (c == '}' || c == ')' || c == ']') --depth;
    else if (c == '=' && depth == 0) {
      ++count;
      last = p;
    } else if (c == ',' && depth == 0) {
      return non_empty(s); // a list of assignments, `x = 2, x = 3`, is an answer whole
    }
  }
  if (count >= 2) return non_empty(s.substr(last + 1));
  return non_empty(s);
}

/// True when the text just before `pos` makes a digit there part of TeX markup: it follows a
/// command name (`\frac13`), a brace, `^` or `_`, or is followed by `}`.
inline bool inside_tex(std::string_view s, std::size_t begin, std::size_t end) noexcept {
  if (end < s.size() && (s[end] == '}' || s[end] == '^' || s[end] == '_')) return true;
  if (begin == 0) return false;
  const char c = s[begin - 1];
  if (c == '{' || c == '}' || c == '^' || c == '_') return true;
  std::size_t q = begin;
  while (q > 0 && is_alpha(s[q - 1])) --q;
  return q < begin && q > 0 && s[q - 1] == '\\';
}

} // namespace detail

/// The content of the last complete `\boxed{...}` or `\fbox{...}` (nested braces allowed,
/// `\{` `\}` escapes skipped), or of a bare `\boxed 5` (up to the next space or `$`).
/// "Last" is by start: the search runs backwards from the end of the text, so a box nested in
/// another wins, a box left open by a truncated text gives way to the complete one before it, and
/// empty boxes are skipped. Time: linear in the text from the chosen box to the end, O(n) in all
/// (a failed box bounds the scans of the boxes before it).
///
/// Example: "so $\boxed{\frac{1}{2}}$." -> "\frac{1}{2}"; "\boxed{1} then \boxed{2" -> "1".
struct boxed_extractor {
  /// At most this many boxes in a row are joined into one list.
  static constexpr int max_joined = 16;

  [[nodiscard]] std::optional<std::string> operator()(std::string_view text) const {
    std::size_t start = 0, stop = 0;
    auto content = last_box(text, start, stop);
    if (!content) return std::nullopt;
    // Boxes in a row, separated only by ',' ';' '$', spaces and "and", are one answer listed
    // box by box: `\boxed{1}, \boxed{2} and \boxed{3}` -> "1, 2, 3" (so it equals `\{1,2,3\}`).
    std::string joined;
    std::vector<std::string> parts{std::move(*content)};
    for (int k = 1; k < max_joined; ++k) {
      std::size_t q = start;
      for (;;) {
        while (q > 0 && (detail::is_space(text[q - 1]) || text[q - 1] == ',' || text[q - 1] == ';' ||
                         text[q - 1] == '$'))
          --q;
        // "or" does not join: `\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}` restates one answer.
        if (q >= 3 && text.substr(q - 3, 3) == "and" && (q == 3 || !detail::is_alpha(text[q - 4]))) q -= 3;
        else break;
      }
      if (q == start || q == 0 || text[q - 1] != '}') break;
      std::size_t s2 = 0, e2 = 0;
      auto prev = last_box(text.substr(0, q), s2, e2);
      if (!prev || e2 != q) break;
      parts.push_back(std::move(*prev));
      start = s2;
    }
    if (parts.size() == 1) return std::move(parts[0]);
    for (std::size_t k = parts.size(); k-- > 0;) {
      joined += parts[k];
      if (k) joined += ", ";
    }
    return joined;
  }

private:
  // The last box: its content, where it starts (the backslash) and one past its end.
  static std::optional<std::string> last_box(std::string_view text, std::size_t& start, std::size_t& stop) {
    const std::size_t npos = std::string_view::npos;
    const std::size_t n = text.size();
    std::size_t search = n; // the next "box" must lie wholly before this position
    std::size_t limit = n;  // the start of the earliest box found unclosed: scans stop there
    while (search >= 3) {
      // One backward scan for "box" finds both "\\boxed" and "\\fbox".
      const std::size_t q = detail::last_of(text, "box", search);
      if (q == npos) break;
      search = q; // "box" cannot overlap itself, so the next one starts before q
      std::size_t p = 0, k = 0;
      if (q >= 1 && text[q - 1] == '\\' && text.substr(q + 3, 2) == "ed") {
        p = q - 1;
        k = q + 5;
      } else if (q >= 2 && text[q - 2] == '\\' && text[q - 1] == 'f') {
        p = q - 2;
        k = q + 3;
      } else {
        continue;
      }
      std::size_t slashes = 0; // "\\boxed" is an escaped backslash, then the word "boxed"
      while (slashes < p && text[p - 1 - slashes] == '\\') ++slashes;
      if (slashes % 2 == 1 || (k < n && detail::is_alpha(text[k]))) continue;
      std::size_t j = k;
      while (j < n && detail::is_space(text[j])) ++j;
      if (j < n && text[j] == '{') {
        std::size_t depth = 1, e = j + 1;
        for (; e < limit && depth > 0; ++e) {
          if (text[e] == '\\') ++e;
          else if (text[e] == '{') ++depth;
          else if (text[e] == '}') --depth;
        }
        if (depth > 0) {
          limit = p;
          continue;
        }
        // e is one past the closing brace
        if (auto content = detail::trim(text.substr(j + 1, e - 1 - (j + 1))); !content.empty()) {
          start = p;
          stop = e;
          return std::string(content);
        }
      } else if (j > k && j < n) {
        std::size_t e = j;
        while (e < n && !detail::is_space(text[e]) && text[e] != '$') ++e;
        if (auto content = detail::trim(text.substr(j, e - j)); !content.empty()) {
          start = p;
          stop = npos; // a bare box never joins a list
          return std::string(content);
        }
      }
    }
    return std::nullopt;
  }
};

/// The text after the last "answer is" or "answer:" (any case, so "The final answer is",
/// "Final Answer:", "**Answer:**"), up to the end of its line or sentence (a '.' followed by a
/// space or the end; "3.5" is kept whole); markdown `**` and surrounding `$` are removed, and a
/// `\boxed{}` inside it wins.
///
/// Example: "... so the answer is $42$.\nDone" -> "42"; "Final Answer: 3.5 cm" -> "3.5 cm".
struct answer_is_extractor {
  [[nodiscard]] std::optional<std::string> operator()(std::string_view text) const {
    const std::size_t n = text.size();
    std::size_t start = std::string_view::npos;
    constexpr std::string_view word = "answer";
    // Backwards: the first phrase found is the last in the text, usually near its end. The scan
    // jumps between the 'w's and 'W's (rare in mathematics) and checks the word around each.
    std::size_t lower = detail::last_char(text, 'w', n), upper = detail::last_char(text, 'W', n);
    for (;;) {
      const std::size_t npos = std::string_view::npos;
      std::size_t w = 0;
      if (lower != npos && (upper == npos || lower > upper)) {
        w = lower;
        lower = w == 0 ? npos : detail::last_char(text, 'w', w);
      } else if (upper != npos) {
        w = upper;
        upper = w == 0 ? npos : detail::last_char(text, 'W', w);
      } else {
        break;
      }
      if (w < 3 || w + 3 > n) continue;
      const std::size_t p = w - 3;
      if ((text[p] | 0x20) != 'a') continue;
      bool match = true;
      for (std::size_t k = 1; k < word.size(); ++k)
        if (detail::to_lower(text[p + k]) != word[k]) {
          match = false;
          break;
        }
      if (!match) continue;
      std::size_t q = p + word.size();
      while (q < n && (text[q] == ' ' || text[q] == '*')) ++q;
      if (q < n && text[q] == ':') {
        start = q + 1;
        break;
      }
      if (q + 1 < n && detail::to_lower(text[q]) == 'i' && detail::to_lower(text[q + 1]) == 's' &&
          (q + 2 == n || !detail::is_alpha(text[q + 2]))) {
        q += 2;
        while (q < n && (text[q] == ' ' || text[q] == '*')) ++q;
        if (q < n && text[q] == ':') ++q;
        start = q;
        break;
      }
    }
    if (start == std::string_view::npos) return std::nullopt;
    std::size_t s = start;
    while (s < n && (text[s] == ' ' || text[s] == '\t' || text[s] == '*')) ++s;
    std::size_t e = s;
    while (e < n && text[e] != '\n') {
      if (text[e] == '.' && (e + 1 == n || detail::is_space(text[e + 1]))) break;
      ++e;
    }
    std::string_view content = detail::trim(text.substr(s, e - s));
    if (auto boxed = boxed_extractor{}(content)) return boxed;
    for (bool changed = true; changed && !content.empty();) {
      changed = false;
      for (std::string_view wrap : {"**", "$"}) {
        if (content.size() >= wrap.size() && content.substr(0, wrap.size()) == wrap) {
          content.remove_prefix(wrap.size());
          changed = true;
        }
        if (content.size() >= wrap.size() && content.substr(content.size() - wrap.size()) == wrap) {
          content.remove_suffix(wrap.size());
          changed = true;
        }
      }
      const auto before = content.size();
      content = detail::trim(content);
      while (!content.empty() && content.back() == '.') content.remove_suffix(1);
      changed = changed || content.size() != before;
    }
    return detail::non_empty(content);
  }
};

/// The content of the last non-empty math span: `$...$`, `$$...$$`, `\(...\)` or `\[...\]`
/// (`\$` is a dollar sign, not a delimiter; a span left open at the end is ignored). When the
/// span is a chain with two or more top-level `=` (`$\sqrt{100-49} = \sqrt{51} = 7.14$`), the
/// text after the last `=` is the answer; a single `=` is kept, so `$x = 3$` and `$2x+4y=3$`
/// reach the canonicaliser whole (it drops a single-variable assignment). Spans in a row that
/// assign the same name, separated only by ',', ';', "and" or "or", are one list:
/// "the roots are $x = 1$ and $x = -3$" -> "x = 1, x = -3" (different names, as in "$a = 2$ and
/// $b = 3$", are not joined: the last is the answer). Time: one forward scan.
///
/// Example: "so the ratio is $\frac13$, done" -> "\frac13"; "$a = b = 5$" -> "5".
struct math_span_extractor {
  [[nodiscard]] std::optional<std::string> operator()(std::string_view text) const {
    const std::size_t n = text.size();
    const std::size_t npos = std::string_view::npos;
    std::string_view best;
    std::size_t best_end = 0;
    auto consider = [&](std::size_t from, std::size_t to, std::size_t stop) {
      if (auto inner = detail::trim(text.substr(from, to - from)); !inner.empty() && stop >= best_end) {
        best = inner;
        best_end = stop;
      }
    };
    // `$` spans: dollars pair up left to right; a '$' after an odd run of backslashes is `\$`.
    // (Each search is a memchr, so prose and TeX commands cost little.)
    auto dollar = [&](std::size_t from) {
      for (std::size_t j = text.find('$', from); j != npos; j = text.find('$', j + 1)) {
        std::size_t slashes = 0;
        while (slashes < j && text[j - 1 - slashes] == '\\') ++slashes;
        if (slashes % 2 == 0) return j;
      }
      return npos;
    };
    // Spans in a row that assign the same name, joined by ',' or "and"/"or" ("the solutions are
    // $x = 1$ and $x = -3$"), are one listed answer; `run` holds the current row.
    std::vector<std::string_view> run;
    std::size_t run_stop = 0, dollar_stop = 0;
    std::string_view run_name;
    for (std::size_t i = dollar(0); i != npos;) {
      const bool display = i + 1 < n && text[i + 1] == '$';
      std::size_t end = dollar(i + (display ? 2 : 1));
      while (display && end != npos && (end + 1 >= n || text[end + 1] != '$')) end = dollar(end + 1);
      if (end == npos) break; // open to the end: no later span can close
      const std::size_t close_len = display ? 2 : 1;
      consider(i + close_len, end, end + close_len);
      const auto inner = detail::trim(text.substr(i + close_len, end - i - close_len));
      const auto name = detail::assigned_name(inner);
      if (!run.empty() && !name.empty() && name == run_name && detail::only_separators(text.substr(run_stop, i - run_stop))) {
        run.push_back(inner);
      } else {
        run.assign(1, inner);
        run_name = name;
      }
      run_stop = dollar_stop = end + close_len;
      i = dollar(end + close_len);
    }
    // `\(...\)` and `\[...\]` spans.
    for (const char* pair : {"()", "[]"}) {
      const char open[] = {'\\', pair[0], 0}, close[] = {'\\', pair[1], 0};
      for (std::size_t i = text.find(open); i != npos;) {
        const std::size_t end = text.find(close, i + 2);
        if (end == npos) break;
        consider(i + 2, end, end + 2);
        i = text.find(open, end + 2);
      }
    }
    if (best.empty()) return std::nullopt;
    if (run.size() > 1 && !run_name.empty() && best_end == dollar_stop && run.size() <= 16) {
      std::string joined;
      for (auto part : run) {
        if (!joined.empty()) joined += ", ";
        joined += part;
      }
      return joined;
    }
    return detail::last_of_chain(best);
  }
};

/// GSM8K's reference format: the rest of the line after the last "####".
///
/// Example: "... 9 * 2 = 18\n#### 18" -> "18".
struct gsm8k_extractor {
  [[nodiscard]] std::optional<std::string> operator()(std::string_view text) const {
    const auto p = detail::last_of(text, "####", text.size());
    if (p == std::string_view::npos) return std::nullopt;
    std::string_view rest = text.substr(p + 4);
    rest = rest.substr(0, rest.find('\n'));
    rest = detail::trim(rest);
    while (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
    return detail::non_empty(rest);
  }
};

/// The last number in the text: an optional '-', digits with optional ',' thousands groups of
/// exactly three digits, an optional decimal part, and an optional "/digits" denominator.
///
/// Example: "so she pays $1,250.50 in total." -> "1,250.50"; "x = -3/4" -> "-3/4";
/// "no digits" -> nullopt.
struct last_number_extractor {
  [[nodiscard]] std::optional<std::string> operator()(std::string_view text) const {
    std::size_t end = text.size();
    while (end > 0 && !detail::is_digit(text[end - 1])) --end;
    if (end == 0) return std::nullopt;
    const std::size_t begin = number_start(text, end);
    std::size_t j = begin;
    // "a/b": take the numerator as well when the number found is a bare denominator.
    if (j >= 2 && text[j - 1] == '/' && detail::is_digit(text[j - 2]) && text[begin] != '-') {
      j = number_start(text, j - 1);
    }
    if (detail::inside_tex(text, j, end)) return std::nullopt; // a TeX argument is no answer
    return std::string(text.substr(j, end - j));
  }

private:
  // Where the number that ends (exclusively) at `end` starts; text[end - 1] is a digit.
  static std::size_t number_start(std::string_view text, std::size_t end) noexcept {
    std::size_t j = end;
    bool seen_point = false, seen_comma = false;
    for (;;) {
      const std::size_t run_end = j;
      while (j > 0 && detail::is_digit(text[j - 1])) --j;
      const std::size_t run = run_end - j;
      if (j >= 2 && text[j - 1] == '.' && detail::is_digit(text[j - 2]) && !seen_point && !seen_comma) {
        seen_point = true;
        --j;
        continue;
      }
      if (j >= 2 && text[j - 1] == ',' && detail::is_digit(text[j - 2]) && run == 3) {
        seen_comma = true;
        --j;
        continue;
      }
      break;
    }
    if (j >= 1 && text[j - 1] == '-') --j;
    return j;
  }
};

/// Tries each extractor in order and returns the first answer found (engaged empty strings count
/// as none).
/// @tparam Es extractors (`answer_extractor`), tried left to right.
///
/// Example: `first_of{boxed_extractor{}, gsm8k_extractor{}}`.
template <answer_extractor... Es>
  requires(sizeof...(Es) > 0)
struct first_of {
  std::tuple<Es...> extractors; ///< the extractors, tried left to right

  constexpr first_of() = default;
  /// Holds the given extractors.
  constexpr explicit first_of(Es... es) : extractors(std::move(es)...) {}

  [[nodiscard]] std::optional<std::string> operator()(std::string_view text) const {
    std::optional<std::string> found;
    std::apply(
        [&](const auto&... e) {
          ((found = std::invoke(e, text), (found && !detail::trim(*found).empty()) || (found.reset(), false)) ||
           ...);
        },
        extractors);
    return found;
  }
};

template <class... Es>
first_of(Es...) -> first_of<Es...>;

/// Answers as graders take them: `\boxed{}`, then "the answer is", then GSM8K's "####".
/// A text with none of these has no answer.
using strict_extractor = first_of<boxed_extractor, answer_is_extractor, gsm8k_extractor>;

/// The default priority order, most explicit first; the first that finds an answer wins:
/// 1. the last `\boxed{}` (boxes in a row joined into a list);
/// 2. the last "answer is" / "answer:" phrase ("The final answer is $x$");
/// 3. GSM8K's "####";
/// 4. the last math span (`$...$`, `$$...$$`, `\(...\)`, `\[...\]`), so `$\frac13$` gives
///    `\frac13` and `$E$` gives `E`;
/// 5. the last number outside TeX markup (a number that is a TeX argument, like the `2` of
///    `\frac{1+\sqrt{5}}{2}`, gives no answer rather than a wrong one).
using default_extractor = first_of<boxed_extractor, answer_is_extractor, gsm8k_extractor, math_span_extractor,
                                   last_number_extractor>;

} // namespace reckon
