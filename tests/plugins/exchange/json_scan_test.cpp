// JsonObject: strict RFC 8259 validation of one object, member access, and decimal parsing.
#include "json_scan.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using qflow::exchange::decode_json_string;
using qflow::exchange::JsonObject;
using qflow::exchange::JsonType;
using qflow::exchange::parse_decimal;

TEST_CASE("json_scan reads the members of an object and their types") {
  JsonObject o;
  REQUIRE(o.parse(R"( {"a": 1, "b": "x", "c": {"d": [1, 2, {"e": null}]}, "f": true, "g": -2.5e3, "h": []} )"));
  REQUIRE(o.members().size() == 6);
  CHECK(o.integer("a") == 1);
  CHECK(o.string("b") == "x");
  CHECK(o.find("c")->type == JsonType::object);
  CHECK(o.find("c")->raw == R"({"d": [1, 2, {"e": null}]})");
  CHECK(o.boolean("f") == true);
  CHECK(o.decimal("g") == -2500.0);
  CHECK(o.find("h")->type == JsonType::array);
  CHECK_FALSE(o.find("zz"));
  CHECK_FALSE(o.integer("b"));  // wrong type
  CHECK_FALSE(o.string("a"));
  JsonObject inner;
  REQUIRE(inner.parse(o.find("c")->raw));
  CHECK(inner.find("d")->raw == "[1, 2, {\"e\": null}]");
}

TEST_CASE("json_scan refuses what is not exactly one valid JSON object") {
  const char* bad[] = {
      "", "   ", "[]", "1", "\"s\"", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}",
      "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":tru}", "{\"a\":nul}",
      "{\"a\":\"x}", "{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\x01\"}", "{\"a\":1} x", "{\"a\":1}{}",
      "{a:1}", "{'a':1}", "{\"a\":[1,2}", "{\"a\":{\"b\":1]}", "{\"a\":NaN}", "{\"a\":Infinity}"};
  for (const char* text : bad) {
    INFO(text);
    JsonObject o;
    CHECK_FALSE(o.parse(text));
    CHECK_FALSE(o.error().empty());
  }
}

TEST_CASE("json_scan limits nesting instead of exhausting the stack") {
  std::string deep = "{\"a\":";
  for (int i = 0; i < 100000; ++i) deep += '[';
  JsonObject o;
  CHECK_FALSE(o.parse(deep));
  CHECK(o.error().find("nested too deeply") != std::string::npos);
  std::string ok = "{\"a\":";
  for (int i = 0; i < JsonObject::kMaxDepth - 1; ++i) ok += '[';
  for (int i = 0; i < JsonObject::kMaxDepth - 1; ++i) ok += ']';
  ok += '}';
  CHECK(o.parse(ok));
}

TEST_CASE("json_scan's decimals are exactly strtod's") {
  const char* texts[] = {"63443.76", "0.1", "1e-7", "94098.91", "2618.25", "86.6352", "0.00000001", "123456789.123456789",
                         "5e-324", "1.7976931348623157e308"};
  for (const char* t : texts) {
    INFO(t);
    const auto v = parse_decimal(t);
    REQUIRE(v);
    CHECK(*v == std::strtod(t, nullptr));
  }
  CHECK_FALSE(parse_decimal(""));
  CHECK_FALSE(parse_decimal("1.5x"));
  CHECK_FALSE(parse_decimal("+1"));
  CHECK_FALSE(parse_decimal("1e400"));  // not finite
  CHECK_FALSE(parse_decimal("nan"));
  CHECK_FALSE(parse_decimal(" 1"));
  JsonObject o;
  REQUIRE(o.parse(R"({"p":"63443.76","q":12.5,"r":"abc","s":true})"));
  CHECK(o.decimal("p") == 63443.76);
  CHECK(o.decimal("q") == 12.5);
  CHECK_FALSE(o.decimal("r"));
  CHECK_FALSE(o.decimal("s"));
}

TEST_CASE("json_scan decodes string escapes to UTF-8") {
  std::string out;
  REQUIRE(decode_json_string(R"("a\"b\\c\/d\n\t\u00e9\u20ac\ud83d\ude00")", out));
  CHECK(out == "a\"b\\c/d\n\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  CHECK_FALSE(decode_json_string("abc", out));
  CHECK_FALSE(decode_json_string(R"("\x")", out));
  CHECK_FALSE(decode_json_string(R"("\u12")", out));
  JsonObject o;
  REQUIRE(o.parse(R"({"k":"with \"escape\""})"));
  CHECK_FALSE(o.string("k"));  // string() gives only escape-free text; the raw is there
  REQUIRE(decode_json_string(o.find("k")->raw, out));
  CHECK(out == "with \"escape\"");
}
