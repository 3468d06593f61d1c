// RFC 3339 times, both ways, as a table.
#include <boost/test/unit_test.hpp>

#include "base/clock.h"

using namespace latchkey;

BOOST_AUTO_TEST_SUITE(rfc3339)

BOOST_AUTO_TEST_CASE(formatting) {
  struct Row {
    Micros t;
    const char* micros;
    const char* seconds;
  };
  const Row rows[] = {
      {0, "1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00Z"},
      {1'800'000'000'123'456LL, "2027-01-15T08:00:00.123456Z", "2027-01-15T08:00:00Z"},
      {951'782'400'000'001LL, "2000-02-29T00:00:00.000001Z", "2000-02-29T00:00:00Z"},
      {-1, "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59Z"},
      {253'402'300'799'999'999LL, "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59Z"},
  };
  for (const auto& r : rows) {
    BOOST_TEST(format_rfc3339(r.t) == r.micros);
    BOOST_TEST(format_rfc3339_seconds(r.t) == r.seconds);
    BOOST_TEST(parse_rfc3339(r.micros).value_or(-42) == r.t);
  }
}

BOOST_AUTO_TEST_CASE(parsing) {
  struct Row {
    const char* text;
    std::optional<Micros> t;
  };
  const Micros s = kMicrosPerSecond;
  const Row rows[] = {
      {"2024-02-29T12:00:00Z", 1'709'208'000 * s},
      {"2024-02-29t12:00:00z", 1'709'208'000 * s},
      {"2024-02-29 12:00:00Z", 1'709'208'000 * s},
      {"2024-02-29T13:30:00+01:30", 1'709'208'000 * s},
      {"2024-02-29T10:00:00-02:00", 1'709'208'000 * s},
      {"2024-02-29T12:00:00.5Z", 1'709'208'000 * s + 500'000},
      {"2024-02-29T12:00:00.123456789Z", 1'709'208'000 * s + 123'456},
      {"2016-12-31T23:59:60Z", 1'483'228'799 * s},  // a leap second reads as :59
      {"2023-02-29T00:00:00Z", std::nullopt},       // not a leap year
      {"1900-02-29T00:00:00Z", std::nullopt},
      {"2024-02-30T00:00:00Z", std::nullopt},
      {"2024-04-31T00:00:00Z", std::nullopt},
      {"2024-13-01T00:00:00Z", std::nullopt},
      {"2024-00-10T00:00:00Z", std::nullopt},
      {"2024-01-00T00:00:00Z", std::nullopt},
      {"2024-01-01T24:00:00Z", std::nullopt},
      {"2024-01-01T00:60:00Z", std::nullopt},
      {"2024-01-01T00:00:00", std::nullopt},    // no zone
      {"2024-01-01T00:00:00.Z", std::nullopt},  // an empty fraction
      {"2024-01-01T00:00:00.1234567890Z", std::nullopt},
      {"2024-01-01T00:00:00Zjunk", std::nullopt},
      {"2024-01-01T00:00:00+1:00", std::nullopt},
      {"2024-1-01T00:00:00Z", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.text) {
      const auto got = parse_rfc3339(r.text);
      BOOST_TEST(got.has_value() == r.t.has_value());
      if (got && r.t) BOOST_TEST(*got == *r.t);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
