// SPDX-License-Identifier: Apache-2.0
// Tests of the small strict JSON reader and writer.
#include <reckon/detail/json.hpp>

#include <support/catch.hpp>

#include <string>

using reckon::detail::json_value;
using reckon::detail::parse_json;

TEST_CASE("json parses every kind of value", "[testing][json]") {
  auto v = parse_json(R"( {"a": [1, -2.5e2, true, false, null], "b": "x\"\\\/\n\u00e9\ud83d\ude00", "c": {}} )");
  REQUIRE(v.has_value());
  REQUIRE(v->type == json_value::kind::object);
  const auto* a = v->find("a");
  REQUIRE(a != nullptr);
  REQUIRE(a->items.size() == 5);
  CHECK(a->items[0].number == 1.0);
  CHECK(a->items[1].number == -250.0);
  CHECK(a->items[2].boolean);
  CHECK(a->items[4].type == json_value::kind::null);
  CHECK(v->find("b")->string == "x\"\\/\n\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(v->find("c")->type == json_value::kind::object);
  CHECK(v->find("zzz") == nullptr);
}

TEST_CASE("json rejects what RFC 8259 rejects, saying where", "[testing][json]") {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "\"\x01\"", "\"\\x\"", "tru",
                          "{\"a\" 1}", "{a: 1}", "\"\\ud800\"", "1 2", "{\"a\":1,\"a\":2}", "1e999", "[\"abc"}) {
    INFO(bad);
    auto r = parse_json(bad);
    REQUIRE(!r);
    CHECK(r.error().message.rfind("column ", 0) == 0);
  }
  CHECK(parse_json("[1, x]").error().message == "column 5: unexpected character 'x'");
  std::string deep(100, '[');
  CHECK(parse_json(deep).error().message.find("nesting") != std::string::npos);
}

TEST_CASE("json strings and numbers are written escaped and round-trip", "[testing][json]") {
  std::string out;
  reckon::detail::write_json_string(out, "a\"b\\c\nd\x01");
  CHECK(out == "\"a\\\"b\\\\c\\nd\\u0001\"");
  CHECK(parse_json(out).value().string == "a\"b\\c\nd\x01");
  CHECK(reckon::detail::json_number(0.1) == "0.1");
  CHECK(reckon::detail::json_number(1.0 / 0.0) == "null");
}
