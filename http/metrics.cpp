#include "http/metrics.h"

#include <cstdio>

namespace latchkey::http {
namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

const std::vector<double> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5};

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double old = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out += name + "_bucket{" + labels + "le=\"" + num(bounds_[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += counts_[bounds_.size()].load(std::memory_order_relaxed);
  out += name + "_bucket{" + labels + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  const std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  out += name + "_sum" + plain + " " + num(sum_.load(std::memory_order_relaxed)) + "\n";
  out +=
      name + "_count" + plain + " " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

Metrics::Metrics()
    : append_latency_(kLatencyBounds),
      append_group_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}) {}

void Metrics::request(const std::string& route, int status, double seconds) {
  Histogram* h;
  {
    std::lock_guard lock(mu_);
    auto& slot = requests_[{route, status}];
    if (!slot) slot = std::make_unique<Histogram>(kLatencyBounds);
    h = slot.get();
  }
  h->observe(seconds);
}

void Metrics::login(const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++logins_[outcome];
}

void Metrics::email(const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++emails_[outcome];
}

void Metrics::append(std::size_t events, Micros latency_us, bool ok) {
  append_latency_.observe(static_cast<double>(latency_us) / 1e6);
  append_group_.observe(static_cast<double>(events));
  if (!ok) append_failures_.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::add_collector(Collector collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collect));
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> value) {
  add_collector([name = std::move(name), help = std::move(help),
                 value = std::move(value)](std::vector<Sample>& out) {
    out.push_back(Sample{name, help, Sample::Type::gauge, value()});
  });
}

std::string Metrics::render() const {
  std::string out;
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mu_);
    render_counted(out);
    collectors = collectors_;
  }
  // Outside the lock: collectors read files and the storage, and every
  // response being counted meanwhile needs mu_.
  std::vector<Sample> samples;
  for (const auto& collect : collectors) collect(samples);
  for (const auto& s : samples) {
    out += "# HELP " + s.name + " " + s.help + "\n# TYPE " + s.name +
           (s.type == Sample::Type::counter ? " counter\n" : " gauge\n");
    out += s.name + " " + num(s.value) + "\n";
  }
  return out;
}

void Metrics::render_counted(std::string& out) const {
  out += "# HELP latchkey_http_request_duration_seconds HTTP requests by route and status.\n";
  out += "# TYPE latchkey_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : requests_) {
    h->render(out, "latchkey_http_request_duration_seconds",
              "route=\"" + escape(key.first) + "\",status=\"" + std::to_string(key.second) + "\",");
  }
  out +=
      "# HELP latchkey_logins_total Login attempts by outcome.\n# TYPE latchkey_logins_total "
      "counter\n";
  for (const auto& [outcome, n] : logins_) {
    out += "latchkey_logins_total{outcome=\"" + escape(outcome) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP latchkey_emails_total Emails by outcome.\n# TYPE latchkey_emails_total counter\n";
  for (const auto& [outcome, n] : emails_) {
    out += "latchkey_emails_total{outcome=\"" + escape(outcome) + "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP latchkey_log_append_duration_seconds Event log appends (one synced write per "
      "group).\n";
  out += "# TYPE latchkey_log_append_duration_seconds histogram\n";
  append_latency_.render(out, "latchkey_log_append_duration_seconds", "");
  out += "# HELP latchkey_log_append_group_events Events per synced append (group commit size).\n";
  out += "# TYPE latchkey_log_append_group_events histogram\n";
  append_group_.render(out, "latchkey_log_append_group_events", "");
  out += "# HELP latchkey_log_append_failures_total Appends that failed (requests answered 503).\n";
  out += "# TYPE latchkey_log_append_failures_total counter\n";
  out += "latchkey_log_append_failures_total " + std::to_string(append_failures_.load()) + "\n";
}

}  // namespace latchkey::http
