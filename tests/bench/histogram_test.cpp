// The load generator's histogram: its percentiles are what the open-loop
// benchmark reports, so they must be right to the stated precision.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "bench/loadgen/histogram.h"

using latchkey::bench::Histogram;

namespace {

// The value of rank ceil(q * n) in `sorted`, the definition the histogram
// approximates.
std::uint64_t exact_quantile(const std::vector<std::uint64_t>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace

BOOST_AUTO_TEST_CASE(empty_histogram_reads_zero) {
  Histogram h;
  BOOST_TEST(h.count() == 0u);
  BOOST_TEST(h.value_at_quantile(0.5) == 0u);
  BOOST_TEST(h.min() == 0u);
  BOOST_TEST(h.max() == 0u);
  BOOST_TEST(h.mean() == 0.0);
}

BOOST_AUTO_TEST_CASE(small_values_are_exact) {
  // Below 2^(bits+1) = 2048 every value has a counter of its own.
  Histogram h;
  for (std::uint64_t v = 1; v <= 2000; ++v) h.record(v);
  BOOST_TEST(h.value_at_quantile(0.5) == 1000u);
  BOOST_TEST(h.value_at_quantile(0.99) == 1980u);
  BOOST_TEST(h.value_at_quantile(0.0) == 1u);
  BOOST_TEST(h.value_at_quantile(1.0) == 2000u);
  BOOST_TEST(h.mean() == 1000.5);
  BOOST_TEST(h.lowest_equivalent(2047) == 2047u);
  BOOST_TEST(h.highest_equivalent(2047) == 2047u);
}

BOOST_AUTO_TEST_CASE(sub_buckets_hold_the_stated_precision) {
  Histogram h(10);
  // Every value shares its counter only with values within 2^-10 of it.
  for (std::uint64_t v :
       {2048ull, 2049ull, 4095ull, 4096ull, 123'456ull, 999'999'999ull, (1ull << 40) - 1}) {
    const auto lo = h.lowest_equivalent(v);
    const auto hi = h.highest_equivalent(v);
    BOOST_TEST(lo <= v);
    BOOST_TEST(hi >= v);
    BOOST_TEST(static_cast<double>(hi - lo + 1) <= static_cast<double>(lo) / 1024.0 + 1e-9);
  }
  // Neighbouring counters tile the range: no gap, no overlap.
  for (std::uint64_t v = 2040; v < 70'000; v = h.highest_equivalent(v) + 1) {
    BOOST_TEST_REQUIRE(h.lowest_equivalent(h.highest_equivalent(v) + 1) ==
                       h.highest_equivalent(v) + 1);
  }
}

BOOST_AUTO_TEST_CASE(percentiles_match_sorting_within_the_precision) {
  // Latencies in ns spread over five orders of magnitude, as a stall makes them.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(13.0, 1.5);  // median ~0.44 ms
  Histogram h;
  std::vector<std::uint64_t> values;
  for (int k = 0; k < 200'000; ++k) {
    const auto v = static_cast<std::uint64_t>(dist(rng)) + 1;
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999, 0.9999}) {
    const auto exact = static_cast<double>(exact_quantile(values, q));
    const auto got = static_cast<double>(h.value_at_quantile(q));
    // Never below the truth (the top of its sub-bucket), at most 0.1% above.
    BOOST_TEST(got >= exact, "q " << q);
    BOOST_TEST(got <= exact * (1 + 1.0 / 1024) + 1, "q " << q);
  }
  BOOST_TEST(h.max() == values.back());
  BOOST_TEST(h.min() == values.front());
  BOOST_TEST(h.value_at_quantile(1.0) == values.back());
}

BOOST_AUTO_TEST_CASE(merge_equals_recording_everything_in_one) {
  Histogram a, b, all;
  for (std::uint64_t v = 1; v < 1'000'000; v += 37) {
    (v % 2 ? a : b).record(v * 1000);
    all.record(v * 1000);
  }
  a.merge(b);
  BOOST_TEST(a.count() == all.count());
  for (double q : {0.1, 0.5, 0.99, 0.9999}) {
    BOOST_TEST(a.value_at_quantile(q) == all.value_at_quantile(q));
  }
  BOOST_TEST(a.max() == all.max());
  BOOST_CHECK_THROW(a.merge(Histogram(7)), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(values_over_the_range_are_clamped_and_counted) {
  Histogram h(10, std::uint64_t{1} << 20);
  h.record(5);
  h.record(std::uint64_t{1} << 30, 3);
  BOOST_TEST(h.count() == 4u);
  BOOST_TEST(h.clamped() == 3u);
  BOOST_TEST(h.max() == (std::uint64_t{1} << 20));
  BOOST_TEST(h.value_at_quantile(0.25) == 5u);
  h.reset();
  BOOST_TEST(h.count() == 0u);
  BOOST_TEST(h.value_at_quantile(0.5) == 0u);
}

BOOST_AUTO_TEST_CASE(a_stall_reads_as_a_stall) {
  // What the generator records at 1,000 requests/s when the server stops for
  // one second out of ten: 1,000 requests waited 1..1000 ms each, the other
  // 9,000 took 0.2 ms. p90 must land on the stall's 0 ms edge, p99 near 900 ms.
  Histogram h;
  for (int k = 0; k < 9000; ++k) h.record(200'000);
  for (std::uint64_t ms = 1; ms <= 1000; ++ms) h.record(ms * 1'000'000);
  BOOST_TEST(h.value_at_quantile(0.9) <= 200'200u);
  BOOST_TEST(h.value_at_quantile(0.99) >= 900'000'000u);
  BOOST_TEST(h.value_at_quantile(0.99) <= 901'000'000u);
  BOOST_TEST(h.max() == 1'000'000'000u);
}
