// docs/openapi.yaml and the server's router must describe the same routes.
//
// The route table is the live one: an http::Api built exactly as the server
// builds it (app.cpp), over real dependencies on a data directory made by
// `latchkey init`'s own code. The document is read with a line reader of the
// layout openapi.yaml promises at its top: a path is a key indented two
// spaces under `paths:`, a method a key indented four spaces under its path.
// The embedded console (/console and its static files under /console/) is not
// API and is left out of the document on purpose; it is excluded here by prefix.
#define BOOST_TEST_MODULE openapi
#include <boost/test/unit_test.hpp>

#include <regex>
#include <set>
#include <sstream>

#include "http/platform_api.h"
#include "tests/http/api_fixture.h"

using namespace latchkey;

namespace {

// The console: /console (a redirect to /console/) and every file under /console/.
const std::string kConsole = "/console";
bool is_console(const std::string& pattern) {
  return pattern == kConsole || pattern.rfind(kConsole + "/", 0) == 0;
}

using RouteSet = std::set<std::string>;  // "METHOD /path/{param}"

// The platform API's routes need no directory to be listed: nothing here is
// ever called.
class NoProjects final : public http::ProjectDirectory {
 public:
  const projections::ProjectRegistry& registry() const override { return registry_; }
  std::shared_ptr<http::ProjectRuntime> runtime(std::string_view) override { return nullptr; }
  std::vector<std::shared_ptr<http::ProjectRuntime>> open_runtimes() const override { return {}; }
  std::shared_ptr<http::ProjectRuntime> open_runtime(std::string_view) const override {
    return nullptr;
  }
  http::ProjectRuntime& platform() override { throw std::logic_error("no platform"); }
  events::EventLog& log_of(std::string_view) override { throw std::logic_error("no log"); }
  Result<service::FirstAdmin> create(const std::string&, const std::string&,
                                     const events::RequestContext&) override {
    return make_error(Errc::internal, "no projects");
  }
  Result<std::vector<events::Event>> update(const std::string&, const domain::ProjectPatch&,
                                            const events::RequestContext&) override {
    return make_error(Errc::internal, "no projects");
  }
  Result<events::Event> remove(const std::string&, const events::RequestContext&) override {
    return make_error(Errc::internal, "no projects");
  }

 private:
  projections::ProjectRegistry registry_;
};

// The (method, path) pairs of the document's `paths:` section.
RouteSet document_routes(const std::string& yaml, std::vector<std::string>& problems) {
  static const std::regex path_key(R"(^  (/[^\s:]*):\s*$)");
  static const std::regex method_key(
      R"(^    (get|put|post|delete|patch|head|options|trace):\s*(#.*)?$)");
  static const std::regex other_key(R"(^    [A-Za-z$][\w$-]*:.*$)");
  RouteSet out;
  std::istringstream in(yaml);
  std::string line, path;
  bool in_paths = false;
  std::size_t methods_of_path = 0;
  auto close_path = [&] {
    if (!path.empty() && methods_of_path == 0) problems.push_back(path + " has no operation");
  };
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] != ' ') {  // a top-level key
      if (in_paths) close_path();
      in_paths = line.rfind("paths:", 0) == 0;
      path.clear();
      continue;
    }
    if (!in_paths) continue;
    std::smatch m;
    if (std::regex_match(line, m, path_key)) {
      close_path();
      path = m[1];
      methods_of_path = 0;
    } else if (std::regex_match(line, m, method_key)) {
      if (path.empty()) {
        problems.push_back("an operation outside a path: " + line);
        continue;
      }
      std::string method = m[1];
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (!out.insert(method + " " + path).second)
        problems.push_back("documented twice: " + method + " " + path);
      ++methods_of_path;
    } else if (line.size() > 2 && line[2] != ' ' && line.rfind("  #", 0) != 0) {
      problems.push_back("unexpected line in paths (layout changed?): " + line);
    } else if (std::regex_match(line, other_key) && line.rfind("    parameters:", 0) != 0 &&
               line.rfind("    summary:", 0) != 0 && line.rfind("    description:", 0) != 0) {
      problems.push_back("unexpected key under " + path + ": " + line);
    }
  }
  return out;
}

std::string list(const RouteSet& s) {
  std::string out;
  for (const auto& r : s) out += "\n  " + r;
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_document_and_the_router_have_the_same_routes) {
  const std::string yaml = test::read_file(LATCHKEY_OPENAPI);
  BOOST_TEST_REQUIRE(!yaml.empty(), "cannot read " << LATCHKEY_OPENAPI);
  BOOST_TEST(yaml.rfind("openapi: 3.1", 0) == 0);
  std::vector<std::string> problems;
  const RouteSet documented = document_routes(yaml, problems);
  for (const auto& p : problems) BOOST_ERROR(p);
  BOOST_TEST_REQUIRE(documented.size() > 20u,
                     "the reader found too few routes: " << list(documented));

  test::ApiFixture api;
  NoProjects none;
  http::PlatformApi platform(none);
  RouteSet served;
  std::size_t excluded = 0;
  auto routes = api.router().routes();
  for (const auto& r : platform.router().routes()) routes.push_back(r);
  for (const auto& r : routes) {
    if (is_console(r.pattern)) {
      ++excluded;
      continue;
    }
    BOOST_TEST(served.insert(r.method + " " + r.pattern).second,
               "the router has " << r.method << " " << r.pattern << " twice");
  }
  BOOST_TEST_MESSAGE(served.size()
                     << " routes served and compared, " << excluded << " console routes left out");

  RouteSet undocumented, unserved;
  std::set_difference(served.begin(), served.end(), documented.begin(), documented.end(),
                      std::inserter(undocumented, undocumented.end()));
  std::set_difference(documented.begin(), documented.end(), served.begin(), served.end(),
                      std::inserter(unserved, unserved.end()));
  BOOST_TEST(undocumented.empty(), "served but not in docs/openapi.yaml:" << list(undocumented));
  BOOST_TEST(unserved.empty(), "in docs/openapi.yaml but not served:" << list(unserved));
  for (const auto& r : documented) {
    BOOST_TEST(!is_console(r.substr(r.find(' ') + 1)),
               r << ": the console is left out of the document");
  }
}

BOOST_AUTO_TEST_CASE(the_reader_notices_a_missing_or_extra_route) {
  // The comparison above can fail: drop one operation and add another.
  const std::string yaml = test::read_file(LATCHKEY_OPENAPI);
  std::vector<std::string> problems;
  const RouteSet all = document_routes(yaml, problems);
  BOOST_TEST_REQUIRE(all.count("GET /iam/users/{id}") == 1u);
  std::string edited = yaml;
  const std::string marker = "  /iam/users/{id}:\n";
  const auto at = edited.find(marker);
  BOOST_TEST_REQUIRE(at != std::string::npos);
  edited.insert(at, "  /iam/nowhere:\n    get:\n      responses: {}\n");
  const auto get_at = edited.find("    get:\n", edited.find(marker) + marker.size());
  BOOST_TEST_REQUIRE(get_at != std::string::npos);
  edited.replace(get_at, 9, "    head:\n");
  std::vector<std::string> p2;
  const RouteSet changed = document_routes(edited, p2);
  BOOST_TEST(changed.count("GET /iam/nowhere") == 1u);
  BOOST_TEST(changed.count("HEAD /iam/users/{id}") == 1u);
  BOOST_TEST(changed.count("GET /iam/users/{id}") == 0u);
  BOOST_TEST(changed.size() == all.size() + 1);
}
