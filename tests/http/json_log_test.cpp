// JsonLog: the lines the access log builds by hand are JSON, whatever the strings hold.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

// Megabytes of lines, written while the background thread flushes and hands
// each megabyte to the disk, all land in order, and a file truncated under
// the log (a rotation) goes on receiving lines.
BOOST_AUTO_TEST_CASE(megabytes_of_lines_land_whole_across_writeback_and_truncation) {
  latchkey::test::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  const std::string pad(200, 'x');
  auto line_of = [&](int i) { return "{\"n\":" + std::to_string(i) + ",\"p\":\"" + pad + "\"}"; };
  auto read_lines = [&] {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  };
  {
    JsonLog log(path);
    for (int i = 0; i < 15000; ++i) {  // about 3 MiB
      log.write_text(line_of(i));
      if (i % 2500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    log.flush();
    const auto lines = read_lines();
    BOOST_REQUIRE(lines.size() == 15000u);
    for (int i = 0; i < 15000; i += 997)
      BOOST_TEST(lines[static_cast<std::size_t>(i)] == line_of(i));
    BOOST_TEST(lines.back() == line_of(14999));

    std::filesystem::resize_file(path, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (int i = 0; i < 6000; ++i) log.write_text(line_of(i));
  }
  // The FILE keeps its offset after a truncation (opened for append, it
  // writes at the new end), so the file holds exactly the later lines.
  const auto lines = read_lines();
  BOOST_REQUIRE(lines.size() == 6000u);
  BOOST_TEST(lines.front() == line_of(0));
  BOOST_TEST(lines.back() == line_of(5999));
}
