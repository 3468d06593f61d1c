// The one integer parser: the whole text, in range, nothing around it.
#include <boost/test/unit_test.hpp>
#include <cstdint>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "base/parse.h"

using namespace latchkey;

BOOST_AUTO_TEST_SUITE(parse)

BOOST_AUTO_TEST_CASE(integers) {
  struct Row {
    const char* text;
    std::optional<std::int64_t> value;
  };
  const Row rows[] = {
      {"0", 0},
      {"42", 42},
      {"-7", -7},
      {"9223372036854775807", INT64_MAX},
      {"9223372036854775808", std::nullopt},  // out of range
      {"", std::nullopt},
      {" 1", std::nullopt},
      {"1 ", std::nullopt},
      {"+1", std::nullopt},
      {"12abc", std::nullopt},
      {"8080abc", std::nullopt},
      {"1.5", std::nullopt},
      {"0x10", std::nullopt},
      {"1e3", std::nullopt},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("'" << r.text << "'") {
      const auto got = parse_integer<std::int64_t>(r.text);
      BOOST_TEST(got.has_value() == r.value.has_value());
      if (got && r.value) BOOST_TEST(*got == *r.value);
    }
  }
}

BOOST_AUTO_TEST_CASE(ranges_and_unsigned) {
  BOOST_TEST(parse_integer<std::uint16_t>("65535").value_or(0) == 65535);
  BOOST_TEST(!parse_integer<std::uint16_t>("65536"));
  BOOST_TEST(!parse_integer<std::uint16_t>("-1"));
  BOOST_TEST(parse_integer<std::int64_t>("500", 1, 500).value_or(0) == 500);
  BOOST_TEST(!parse_integer<std::int64_t>("501", 1, 500));
  BOOST_TEST(!parse_integer<std::int64_t>("0", 1, 500));
}

BOOST_AUTO_TEST_SUITE_END()

// append_json_string writes what a JSON parser reads back as the same string.
BOOST_AUTO_TEST_CASE(json_strings_are_escaped_and_read_back_the_same) {
  const std::vector<std::string> values = {"",
                                           "plain",
                                           "quote \" and backslash \\",
                                           std::string("nul \0 inside", 12),
                                           "tab\tnewline\ncr\r\x01\x1f",
                                           "utf-8: caf\xc3\xa9 \xe2\x82\xac",
                                           "https://acme.example.com"};
  for (const auto& v : values) {
    std::string out;
    latchkey::append_json_string(out, v);
    BOOST_TEST_CONTEXT(out) {
      const auto parsed = nlohmann::json::parse(out);
      BOOST_TEST(parsed.get<std::string>() == v);
      for (const char c : out) BOOST_TEST(static_cast<unsigned char>(c) >= 0x20);
    }
  }
}
