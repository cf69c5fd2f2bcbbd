// SPDX-License-Identifier: Apache-2.0
// regex_extractor: the last match of a user's regular expression (std::regex, ECMAScript).
#pragma once

#include <reckon/core/result.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace reckon {

/// Parameters of `regex_extractor`.
struct regex_extractor_params {
  std::size_t window = 4096; ///< only the last `window` bytes are searched (0 = the whole text)
  std::size_t group = 1;     ///< capture group returned (falls back to the whole match if absent)
  bool icase = false;        ///< case-insensitive matching
};

/// The last match of a user regex in a completion; nullopt when none matches or the match is
/// empty. Example: `regex_extractor("Result: (-?[0-9]+)")` on "Result: 7\nResult: 9" -> "9".
///
/// Cost: std::regex backtracks, so time is not linear in general, and libstdc++'s matcher
/// recurses per character; `window` bounds both (by default the final 4 KiB, where answers are).
/// An error inside the regex engine (e.g. `error_complexity`) reads as no answer.
class regex_extractor {
public:
  /// Compiles `pattern` (ECMAScript syntax).
  /// @throws reckon::exception (invalid_argument) when the pattern does not compile
  explicit regex_extractor(std::string_view pattern, regex_extractor_params params = {})
      : params_(params) {
    try {
      auto flags = std::regex::ECMAScript;
      if (params.icase) flags |= std::regex::icase;
      re_ = std::make_shared<const std::regex>(std::string(pattern), flags);
    } catch (const std::regex_error& e) {
      throw exception(errc::invalid_argument, std::string("regex_extractor: bad pattern: ") + e.what());
    }
  }

  [[nodiscard]] std::optional<std::string> operator()(std::string_view text) const {
    if (params_.window != 0 && text.size() > params_.window) text = text.substr(text.size() - params_.window);
    try {
      std::optional<std::string> last;
      for (std::cregex_iterator it(text.data(), text.data() + text.size(), *re_), end; it != end; ++it) {
        const auto& m = *it;
        const std::size_t g = params_.group < m.size() && m[params_.group].matched ? params_.group : 0;
        if (m[g].length() > 0) last = m[g].str();
      }
      return last;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

private:
  regex_extractor_params params_;
  std::shared_ptr<const std::regex> re_;
};

} // namespace reckon
