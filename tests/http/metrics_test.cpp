// Metrics: series computed at scrape time render with their type.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "http/metrics.h"

using namespace latchkey::http;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(collectors_render_gauges_and_counters_and_may_leave_a_series_out) {
  Metrics m;
  m.add_gauge("test_gauge", "A gauge.", [] { return 2.5; });
  m.add_collector([](std::vector<Metrics::Sample>& out) {
    out.push_back({"test_things_total", "Things.", Metrics::Sample::Type::counter, 7});
    // test_absent is not readable now: no sample, so no series.
  });
  const std::string text = m.render();
  BOOST_TEST(
      contains(text, "# HELP test_gauge A gauge.\n# TYPE test_gauge gauge\ntest_gauge 2.5\n"));
  BOOST_TEST(contains(text,
                      "# HELP test_things_total Things.\n# TYPE test_things_total counter\n"
                      "test_things_total 7\n"));
  BOOST_TEST(!contains(text, "test_absent"));
}

BOOST_AUTO_TEST_SUITE_END()
