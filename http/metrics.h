#pragma once
// Prometheus metrics (text exposition format 0.0.4). Thread-safe.

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"

namespace latchkey::http {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends the series NAME_bucket / _sum / _count with `labels` ("" or `a="b",`).
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // one per bound, then +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class Metrics {
 public:
  Metrics();
  void request(const std::string& route, int status, double seconds);
  // outcome: ok | invalid_credentials | locked | invalid_request | unavailable
  void login(const std::string& outcome);
  void append(std::size_t events, Micros latency_us, bool ok);
  void email(const std::string& outcome);
  // A series computed at scrape time.
  struct Sample {
    enum class Type { gauge, counter };  // counter: a total that only rises (name ends in _total)
    std::string name, help;
    Type type = Type::gauge;
    double value = 0;
  };
  // Figures read together at each scrape (one read of /proc, one call to the
  // storage) append their samples here. A figure that cannot be read is left
  // out, so its series is absent for that scrape rather than wrong.
  using Collector = std::function<void(std::vector<Sample>&)>;
  void add_collector(Collector collect);
  // One gauge computed at scrape time (name, help, value).
  void add_gauge(std::string name, std::string help, std::function<double()> value);
  std::string render() const;

 private:
  // The series this class counts itself. REQUIRES: mu_ held.
  void render_counted(std::string& out) const;

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::unique_ptr<Histogram>> requests_;  // GUARDED_BY(mu_)
  std::map<std::string, std::uint64_t> logins_;                                 // GUARDED_BY(mu_)
  std::map<std::string, std::uint64_t> emails_;                                 // GUARDED_BY(mu_)
  Histogram append_latency_;
  Histogram append_group_;
  std::atomic<std::uint64_t> append_failures_{0};
  std::vector<Collector> collectors_;  // GUARDED_BY(mu_)
};

}  // namespace latchkey::http
