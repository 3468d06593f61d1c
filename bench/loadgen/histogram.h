#pragma once
// A fixed-precision, log-bucketed histogram of non-negative integers (the
// load generator records nanoseconds), laid out as HdrHistogram is: values
// below 2^(b+1) each have a counter of their own, and every power of two above
// that is split into 2^b equal sub-buckets, so a recorded value is known to
// within a relative error of 2^-b (b = 10: 0.1%, HdrHistogram's "3 significant
// digits"). Recording is an index computation and an increment, so it can
// take every response of a run instead of a sample; percentiles are exact up
// to that precision, and min, max, count and mean are exact.
//
// Debian 12 packages no C or C++ HdrHistogram (only the Java and Go ones), and
// this is all the generator needs of one.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace latchkey::bench {

class Histogram {
 public:
  // Values up to `highest` (larger ones are counted as `highest`, and in
  // clamped()); relative error at most 2^-sub_bucket_bits.
  explicit Histogram(int sub_bucket_bits = 10, std::uint64_t highest = std::uint64_t{1} << 40)
      : bits_(sub_bucket_bits), highest_(highest) {
    if (bits_ < 1 || bits_ > 20 || highest_ < (std::uint64_t{2} << bits_)) {
      throw std::invalid_argument("Histogram: bad precision or range");
    }
    counts_.assign(index_of(highest_) + 1, 0);
  }

  void record(std::uint64_t value, std::uint64_t n = 1) {
    if (value > highest_) {
      value = highest_;
      clamped_ += n;
    }
    counts_[index_of(value)] += n;
    count_ += n;
    sum_ += static_cast<long double>(value) * static_cast<long double>(n);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  // Adds every value of `other`, which must have the same precision and range.
  void merge(const Histogram& other) {
    if (other.bits_ != bits_ || other.highest_ != highest_) {
      throw std::invalid_argument("Histogram::merge: different layouts");
    }
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    clamped_ += other.clamped_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = clamped_ = 0;
    sum_ = 0;
    min_ = std::numeric_limits<std::uint64_t>::max();
    max_ = 0;
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t clamped() const { return clamped_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_ / count_) : 0; }

  // The value at quantile q (0..1): the value of rank ceil(q * count) (at
  // least 1) in sorted order, given as the highest value its sub-bucket holds,
  // as HdrHistogram does, so that a percentile never reads below the truth; but
  // never above the exact maximum, nor below the exact minimum. 0 when empty.
  std::uint64_t value_at_quantile(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(highest_in(i), min_, max_);
    }
    return max_;
  }

  // The lowest and highest value that share `value`'s counter: the precision
  // at that value (for tests and for saying what a figure means).
  std::uint64_t lowest_equivalent(std::uint64_t value) const {
    return lowest_in(index_of(std::min(value, highest_)));
  }
  std::uint64_t highest_equivalent(std::uint64_t value) const {
    return highest_in(index_of(std::min(value, highest_)));
  }
  std::size_t counter_count() const { return counts_.size(); }

 private:
  // Values below 2^(bits+1) map to themselves; above, a value whose top bit
  // is e keeps its top bits+1 bits: index = 2^(bits+1) + (shift-1) * 2^bits
  // + (value >> shift) - 2^bits, with shift = e - bits.
  std::size_t index_of(std::uint64_t v) const {
    const std::uint64_t linear = std::uint64_t{2} << bits_;
    if (v < linear) return static_cast<std::size_t>(v);
    const int shift = std::bit_width(v) - 1 - bits_;
    const std::uint64_t half = std::uint64_t{1} << bits_;
    return static_cast<std::size_t>(linear + (static_cast<std::uint64_t>(shift) - 1) * half +
                                    ((v >> shift) - half));
  }
  std::uint64_t lowest_in(std::size_t i) const {
    const std::uint64_t linear = std::uint64_t{2} << bits_;
    if (i < linear) return i;
    const std::uint64_t half = std::uint64_t{1} << bits_;
    const std::uint64_t shift = (i - linear) / half + 1;
    const std::uint64_t sub = (i - linear) % half + half;
    return sub << shift;
  }
  std::uint64_t highest_in(std::size_t i) const {
    const std::uint64_t linear = std::uint64_t{2} << bits_;
    if (i < linear) return i;
    const std::uint64_t half = std::uint64_t{1} << bits_;
    const std::uint64_t shift = (i - linear) / half + 1;
    return lowest_in(i) + (std::uint64_t{1} << shift) - 1;
  }

  int bits_;
  std::uint64_t highest_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t clamped_ = 0;
  long double sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace latchkey::bench
