// SPDX-License-Identifier: Apache-2.0
// A small, strict JSON reader and string writer (RFC 8259) for replay files and result rows.
#pragma once

#include <reckon/core/result.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace reckon::detail {

/// A parsed JSON value. Objects keep their members in document order (keys are unique).
struct json_value {
  /// What the value is.
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };

  kind type = kind::null;          ///< which of the members below holds the value
  bool boolean = false;            ///< when type == boolean
  double number = 0.0;             ///< when type == number
  std::string string;              ///< when type == string
  std::vector<json_value> items;   ///< array elements, or object member values (parallel to keys)
  std::vector<std::string> keys;   ///< object member names

  /// The member named `key` of an object, or nullptr (also when this is not an object).
  [[nodiscard]] const json_value* find(std::string_view key) const noexcept {
    if (type != kind::object) return nullptr;
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == key) return &items[i];
    return nullptr;
  }
};

/// The name of a JSON kind, for error messages ("a string", "an array", ...).
[[nodiscard]] constexpr std::string_view json_kind_name(json_value::kind k) noexcept {
  switch (k) {
  case json_value::kind::null: return "null";
  case json_value::kind::boolean: return "a boolean";
  case json_value::kind::number: return "a number";
  case json_value::kind::string: return "a string";
  case json_value::kind::array: return "an array";
  case json_value::kind::object: return "an object";
  }
  return "a value";
}

/// A strict recursive-descent JSON parser with a depth limit; errors say the 1-based column.
class json_parser {
public:
  static constexpr int max_depth = 64; ///< deeper nesting is an error, not a stack overflow

  explicit json_parser(std::string_view text) noexcept : text_(text) {}

  /// Parses the whole text as one value (surrounding whitespace allowed).
  result<json_value> parse() {
    json_value v;
    if (!value(v, 0)) return fail(errc::invalid_argument, message_);
    skip_ws();
    if (pos_ != text_.size()) return fail(errc::invalid_argument, at("unexpected text after the value"));
    return v;
  }

private:
  std::string at(std::string_view what) const { return fmt::format("column {}: {}", pos_ + 1, what); }
  bool error(std::string_view what) {
    message_ = at(what);
    return false;
  }
  void skip_ws() noexcept {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return error("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool value(json_value& out, int depth) {
    if (depth > max_depth) return error("nesting deeper than 64 levels");
    skip_ws();
    if (pos_ >= text_.size()) return error("unexpected end of input");
    const char c = text_[pos_];
    switch (c) {
    case 'n': out.type = json_value::kind::null; return literal("null");
    case 't': out.type = json_value::kind::boolean; out.boolean = true; return literal("true");
    case 'f': out.type = json_value::kind::boolean; out.boolean = false; return literal("false");
    case '"': out.type = json_value::kind::string; return string(out.string);
    case '[': return array(out, depth);
    case '{': return object(out, depth);
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return number(out);
      return error(fmt::format("unexpected character '{}'", c));
    }
  }

  bool number(json_value& out) {
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') ++pos_;
    else if (!digits()) return error("invalid number");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return error("invalid number: digits must follow '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return error("invalid number: digits must follow the exponent");
    }
    double v = 0.0;
    const auto r = std::from_chars(text_.data() + start, text_.data() + pos_, v);
    if (r.ec != std::errc() || !std::isfinite(v)) {
      pos_ = start;
      return error("number out of range");
    }
    out.type = json_value::kind::number;
    out.number = v;
    return true;
  }

  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(std::uint32_t& out) {
    if (text_.size() - pos_ < 4) return error("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') out |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return error("invalid \\u escape");
    }
    return true;
  }

  bool string(std::string& out) {
    ++pos_; // opening quote
    out.clear();
    while (true) {
      if (pos_ >= text_.size()) return error("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= text_.size()) return error("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        std::uint32_t cp = 0;
        if (!hex4(cp)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          std::uint32_t lo = 0;
          if (text_.substr(pos_, 2) != "\\u") return error("unpaired surrogate in \\u escape");
          pos_ += 2;
          if (!hex4(lo)) return false;
          if (lo < 0xDC00 || lo > 0xDFFF) return error("unpaired surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return error("unpaired surrogate in \\u escape");
        }
        put_utf8(out, cp);
        break;
      }
      default: --pos_; return error("invalid escape");
      }
    }
  }

  bool array(json_value& out, int depth) {
    out.type = json_value::kind::array;
    ++pos_;
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      out.items.emplace_back();
      if (!value(out.items.back(), depth + 1)) return false;
      skip_ws();
      if (pos_ >= text_.size()) return error("unterminated array");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return error("expected ',' or ']' in array");
    }
  }

  bool object(json_value& out, int depth) {
    out.type = json_value::kind::object;
    ++pos_;
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != '"') return error("expected a member name");
      std::string key;
      const std::size_t key_pos = pos_;
      if (!string(key)) return false;
      for (const auto& k : out.keys)
        if (k == key) {
          pos_ = key_pos;
          return error(fmt::format("duplicate member \"{}\"", key));
        }
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != ':') return error("expected ':' after a member name");
      ++pos_;
      out.keys.push_back(std::move(key));
      out.items.emplace_back();
      if (!value(out.items.back(), depth + 1)) return false;
      skip_ws();
      if (pos_ >= text_.size()) return error("unterminated object");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return error("expected ',' or '}' in object");
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string message_;
};

/// Parses `text` as one JSON value; the error message starts with "column N: ".
[[nodiscard]] inline result<json_value> parse_json(std::string_view text) { return json_parser(text).parse(); }

/// Appends `s` as a JSON string literal (quotes, escapes; bytes >= 0x80 pass through).
inline void write_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      else out += c;
    }
  }
  out += '"';
}

/// A JSON number for `x`: shortest round-trip form; NaN and infinities become null.
[[nodiscard]] inline std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  return fmt::format("{}", x);
}

} // namespace reckon::detail
