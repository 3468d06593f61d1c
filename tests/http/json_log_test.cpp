// JsonLog: the lines the access log builds by hand are JSON, whatever the strings hold.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "http/json_log.h"
#include "tests/support/temp_dir.h"

using latchkey::http::JsonLog;
using nlohmann::json;

namespace {

// {"v":<s as append_string writes it>}, parsed back.
json round_trip(const std::string& s) {
  std::string line = "{\"v\":";
  JsonLog::append_string(line, s);
  line += "}";
  return json::parse(line, nullptr, false);
}

}  // namespace

BOOST_AUTO_TEST_CASE(append_string_writes_a_json_string_for_any_bytes) {
  for (const std::string& s :
       {std::string("plain-id_1.2:3"), std::string(""), std::string("say \"hi\""),
        std::string("back\\slash"), std::string("line\nbreak\ttab"), std::string("nul\0inside", 10),
        std::string("caf\xc3\xa9")}) {
    const json j = round_trip(s);
    BOOST_TEST_REQUIRE(j.is_object(), s);
    BOOST_TEST(j["v"].get<std::string>() == s);
  }
  // Invalid UTF-8 cannot be carried: it is replaced, and the line stays JSON.
  const json bad = round_trip("x\xff y");
  BOOST_TEST_REQUIRE(bad.is_object());
  BOOST_TEST(bad["v"].get<std::string>() == "x\xef\xbf\xbd y");
}

BOOST_AUTO_TEST_CASE(written_lines_end_up_one_per_line_in_the_file) {
  latchkey::test::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  {
    JsonLog log(path);
    BOOST_TEST_REQUIRE(log.enabled());
    log.write_text(R"({"a":1})");
    log.write(json{{"b", 2}});
  }  // the destructor flushes
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  BOOST_TEST(text.str() == "{\"a\":1}\n{\"b\":2}\n");
  JsonLog off("off");
  BOOST_TEST(!off.enabled());
  off.write_text("{}");  // does nothing
}
