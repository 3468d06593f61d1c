// bench_loadgen: an open-loop HTTP/1.1 load generator for latchkey's
// benchmarks (docs/benchmarks.md, "Open-loop load").
//
// wrk is closed-loop: each connection sends its next request only after the
// previous response, so when the server stalls the requests that should have
// been sent meanwhile are never sent, and the stall shows as a few slow
// requests instead of thousands (coordinated omission). Here request i has an
// intended send time t0 + i/R fixed before the run, and its latency is
// measured from that time to the last byte of its response, as wrk2 does: a
// stall of S seconds costs every request due during it up to S.
//
// Connections: a pool of N keep-alive connections, one request at a time on
// each (no pipelining: latchkey answers in order anyway, and a slow response
// would hold up every request pipelined behind it on the same connection with
// no way to tell). The next due request goes to the connection that has been
// free the longest; when none is free, due requests wait in a queue (in order)
// and the next connection to finish takes the oldest. That wait is part of
// the request's latency, and the output counts the requests that had to wait.
//
// One thread: on loopback it costs about 11 us of CPU per request at 20,000
// requests/s (it prints its own cost at the end), and the server under test
// shares the same cores. It falls behind its schedule when it does not get a
// core in time; it measures by how much ("lag") and says so past a margin.
//
// Usage:
//   bench_loadgen --address 127.0.0.1:8080 --rate 8000 --duration 60 --keys keys.txt
//   bench_loadgen --address 127.0.0.1:8080 --rate 2000 --duration 5 --get /healthz
// The keys file has "apikey secretkey" lines (bench_login_keys writes it).

#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/loadgen/histogram.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace latchkey::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Nanos = std::int64_t;  // a steady_clock instant or a duration, in ns

Nanos now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}
Clock::time_point to_time_point(Nanos t) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(t)));
}
double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Options {
  std::string address;
  std::string host;  // the Host header; empty: `address`
  std::uint64_t rate = 0;
  std::uint64_t duration_s = 60;
  std::uint64_t warmup_s = 0;
  std::uint64_t connections = 32;
  std::string keys_file;
  std::string get_path;
  double timeout_s = 10;
  double max_lag_ms = 1;
  std::string json_file;
  bool quiet = false;
};

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The bytes of every distinct request, sent as they are: request i is
// requests[i % size], so that consecutive logins use different keys, as
// login.lua does. Serialized once: a request then costs one write.
std::vector<std::string> build_requests(const Options& o, const std::string& host) {
  std::vector<std::string> out;
  if (!o.get_path.empty()) {
    out.push_back("GET " + o.get_path + " HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: bench_loadgen\r\n\r\n");
    return out;
  }
  std::ifstream in(o.keys_file);
  if (!in) throw std::runtime_error("cannot read the keys file " + o.keys_file);
  std::string apikey, secret;
  while (in >> apikey >> secret) {
    const std::string body = R"({"auth_mode":"apikey","apikey":")" + json_escape(apikey) +
                             R"(","secretkey":")" + json_escape(secret) + R"("})";
    out.push_back("POST /iam/login HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: bench_loadgen\r\nContent-Type: application/json\r\n"
                  "Content-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  if (out.empty()) throw std::runtime_error("no \"apikey secretkey\" line in " + o.keys_file);
  return out;
}

// What happened to the requests intended in one second of the measured run.
struct Second {
  std::uint64_t sent = 0, completed = 0, ok = 0, non2xx = 0, conn_errors = 0, timeouts = 0;
  std::uint64_t queued = 0;  // waited for a free connection
  Nanos lag_max = 0;         // the generator's own lateness, for those that did not
  Histogram latency;
  std::uint64_t resolved() const { return completed + conn_errors + timeouts; }
};

// A printed second, kept for the JSON file.
struct Row {
  std::uint64_t second, intended, sent, completed, ok, non2xx, conn_errors, timeouts, queued;
  double p50_ms, p99_ms, max_ms, lag_max_ms;
};

class Generator {
 public:
  Generator(net::io_context& ioc, const Options& o, tcp::endpoint ep,
            std::vector<std::string> requests)
      : ioc_(ioc),
        o_(o),
        ep_(ep),
        requests_(std::move(requests)),
        warmup_requests_(o.rate * o.warmup_s),
        total_(o.rate * (o.warmup_s + o.duration_s)),
        timeout_ns_(static_cast<Nanos>(o.timeout_s * 1e9)),
        max_lag_ns_(static_cast<Nanos>(o.max_lag_ms * 1e6)),
        schedule_timer_(ioc),
        tick_timer_(ioc) {}

  // Opens every connection before the clock starts. False when the server
  // cannot be reached.
  bool connect_all() {
    for (std::uint64_t k = 0; k < o_.connections; ++k) {
      auto c = std::make_unique<Conn>(ioc_);
      beast::error_code ec;
      c->sock.connect(ep_, ec);
      if (ec) {
        std::fprintf(stderr, "bench_loadgen: cannot connect to %s: %s\n", o_.address.c_str(),
                     ec.message().c_str());
        return false;
      }
      c->sock.set_option(tcp::no_delay(true), ec);
      free_.push_back(c.get());
      conns_.push_back(std::move(c));
    }
    return true;
  }

  void start() {
    cpu_at_start_ = cpu_seconds();
    // A little ahead, so that request 0 is not late already.
    t0_ = now_ns() + 2'000'000;
    measure_start_ = t0_ + static_cast<Nanos>(o_.warmup_s) * 1'000'000'000;
    arm_schedule();
    arm_tick();
  }

  // Stops the schedule (SIGINT): what was sent is still waited for.
  void interrupt() {
    if (interrupted_ || done_) return;
    interrupted_ = true;
    total_ = std::max(next_, due_until(now_ns()));
    schedule_timer_.cancel();
    maybe_finish();
  }

  // Prints the summary (and writes the JSON file); the exit status.
  int report() const;

 private:
  struct Conn {
    explicit Conn(net::io_context& ioc) : sock(ioc), backoff(ioc) {}
    tcp::socket sock;
    net::steady_timer backoff;
    beast::flat_buffer buffer;
    // The response being read. Shared with the read in flight: a timeout or
    // a failed write lets go of it while the read is still pending, and the
    // read (closed, then completed as aborted) must not touch a destroyed
    // parser (it did: "pure virtual method called" under heavy load).
    std::shared_ptr<http::response_parser<http::string_body>> parser;
    std::uint64_t generation = 0;  // handlers of an older generation are stale
    bool busy = false;
    bool refused = false;   // its last connect failed (reset when one succeeds)
    bool is_retry = false;  // the request in flight is being sent a second time
    std::uint64_t request = 0;
    Nanos sent_at = 0;
  };
  enum class Failure { connection, timeout };

  Nanos intended(std::uint64_t i) const {
    return t0_ + static_cast<Nanos>(static_cast<unsigned __int128>(i) * 1'000'000'000 / o_.rate);
  }
  // How many requests are due at `now`: those with intended(i) <= now, i.e.
  // floor(i * 1e9 / R) <= e, i.e. i < (e + 1) * R / 1e9.
  std::uint64_t due_until(Nanos now) const {
    if (now < t0_) return 0;
    const auto e = static_cast<unsigned __int128>(now - t0_);
    const auto n = ((e + 1) * o_.rate + 999'999'999) / 1'000'000'000;
    return static_cast<std::uint64_t>(std::min<unsigned __int128>(n, total_));
  }
  // The measured second of request i; none in the warm-up.
  std::optional<std::uint64_t> second_of(std::uint64_t i) const {
    if (i < warmup_requests_) return std::nullopt;
    return (i - warmup_requests_) / o_.rate;
  }
  std::uint64_t intended_in_second(std::uint64_t s) const {
    const std::uint64_t begin = warmup_requests_ + s * o_.rate;
    return std::min(total_, begin + o_.rate) - std::min(total_, begin);
  }
  Second& second(std::uint64_t s) {
    while (first_open_second_ + seconds_.size() <= s) seconds_.emplace_back();
    return seconds_[s - first_open_second_];
  }
  Nanos window_ns() const { return static_cast<Nanos>(o_.duration_s) * 1'000'000'000; }
  bool finished_sending() const { return next_ >= total_ && retries_.empty(); }

  void arm_schedule() {
    if (schedule_armed_ || done_ || next_ >= total_ || free_.empty()) return;
    schedule_armed_ = true;
    schedule_timer_.expires_at(to_time_point(intended(next_)));
    schedule_timer_.async_wait([this](beast::error_code) {
      schedule_armed_ = false;
      pump(now_ns());
      arm_schedule();
    });
  }

  // The next request to send, if one is due: a retry first, then the schedule.
  std::optional<std::uint64_t> take_due(Nanos now, bool& is_retry) {
    if (!retries_.empty()) {
      const std::uint64_t i = retries_.front();
      retries_.pop_front();
      is_retry = true;
      return i;
    }
    is_retry = false;
    due_ = std::max(due_, due_until(now));
    if (next_ < due_) return next_++;
    return std::nullopt;
  }

  // The schedule's timer: every due request goes to a free connection. A
  // delay here is the generator's own (a free connection was there).
  void pump(Nanos now) {
    while (!free_.empty()) {
      bool is_retry;
      const auto i = take_due(now, is_retry);
      if (!i) return;
      Conn* c = free_.front();
      free_.pop_front();
      // From here on a due request finds no free connection: the queue
      // starts with the next one, which may be due already.
      if (free_.empty()) all_busy_since_ = next_ < total_ ? std::min(now, intended(next_)) : now;
      if (!is_retry) note_lag(*i, now);
      send(*c, *i, now, is_retry);
    }
  }

  // A connection is free again (a response, or a new connection): it takes
  // the oldest due request at once, or joins the free list.
  void release(Conn& c, Nanos now) {
    bool is_retry;
    if (const auto i = take_due(now, is_retry)) {
      if (!is_retry) {
        // Every connection has been busy since all_busy_since_: a request
        // intended after that found none free and waited in the queue.
        if (all_busy_since_ && intended(*i) >= *all_busy_since_) {
          note_queued(*i);
        } else {
          note_lag(*i, now);
        }
      }
      send(c, *i, now, is_retry);
      return;
    }
    all_busy_since_.reset();
    free_.push_back(&c);
    arm_schedule();
    maybe_finish();
  }

  void note_lag(std::uint64_t i, Nanos now) {
    const auto s = second_of(i);
    if (!s) return;
    const Nanos late = std::max<Nanos>(0, now - intended(i));
    lag_.record(static_cast<std::uint64_t>(late));
    Second& sec = second(*s);
    sec.lag_max = std::max(sec.lag_max, late);
  }
  void note_queued(std::uint64_t i) {
    const auto s = second_of(i);
    if (!s) return;
    ++queued_measured_;
    ++second(*s).queued;
  }

  void send(Conn& c, std::uint64_t i, Nanos now, bool is_retry) {
    c.busy = true;
    c.is_retry = is_retry;
    c.request = i;
    c.sent_at = now;
    c.parser = std::make_shared<http::response_parser<http::string_body>>();
    if (!is_retry) {
      ++sent_total_;
      if (const auto s = second_of(i)) ++second(*s).sent;
    }
    const std::string& bytes = requests_[i % requests_.size()];
    const std::uint64_t gen = c.generation;
    // The read is started with the write: one trip less through the loop.
    net::async_write(c.sock, net::buffer(bytes),
                     [this, &c, gen](beast::error_code ec, std::size_t) {
                       if (ec && gen == c.generation && c.busy) fail(c, ec);
                     });
    auto parser = c.parser;
    http::async_read(c.sock, c.buffer, *parser,
                     [this, &c, gen, parser](beast::error_code ec, std::size_t) {
                       if (gen != c.generation || !c.busy) return;
                       if (ec) return fail(c, ec);
                       complete(c);
                     });
  }

  void complete(Conn& c) {
    const Nanos now = now_ns();
    const std::uint64_t i = c.request;
    const unsigned status = c.parser->get().result_int();
    const bool keep_alive = c.parser->get().keep_alive();
    const bool ok = status >= 200 && status < 300;
    c.busy = false;
    c.parser.reset();
    if (ok) {
      ++ok_total_;
    } else {
      ++non2xx_total_;
      ++status_counts_[status];
    }
    if (now >= measure_start_ && now < measure_start_ + window_ns()) ++completed_in_window_;
    if (const auto s = second_of(i)) {
      const auto latency = static_cast<std::uint64_t>(std::max<Nanos>(0, now - intended(i)));
      latency_.record(latency);
      service_.record(static_cast<std::uint64_t>(std::max<Nanos>(0, now - c.sent_at)));
      Second& sec = second(*s);
      sec.latency.record(latency);
      ++sec.completed;
      ++(ok ? sec.ok : sec.non2xx);
    }
    if (!keep_alive) return reconnect(c);
    release(c, now);
  }

  void fail(Conn& c, beast::error_code ec) {
    const std::uint64_t i = c.request;
    const bool got_nothing = !c.parser->got_some() && c.buffer.size() == 0;
    const bool was_retry = c.is_retry;
    c.busy = false;
    c.parser.reset();
    // A kept-alive connection that the server closed while it sat idle (its
    // idle timeout) fails before any byte of an answer: the request is sent
    // once more, on a new connection, its intended time unchanged.
    // (Beast reports a close before any byte as end_of_stream.)
    if (got_nothing && !was_retry &&
        (ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe)) {
      ++retried_;
      retries_.push_back(i);
      return reconnect(c);
    }
    count_failure(i, Failure::connection);
    if (!first_error_) first_error_ = ec.message();
    reconnect(c);
  }

  void count_failure(std::uint64_t i, Failure kind) {
    ++(kind == Failure::timeout ? timeouts_total_ : conn_errors_total_);
    if (const auto s = second_of(i)) {
      Second& sec = second(*s);
      ++(kind == Failure::timeout ? sec.timeouts : sec.conn_errors);
    }
  }

  // Closes the connection (its pending handlers turn stale) and opens a new
  // one; while connecting fails, tries again every 100 ms.
  void reconnect(Conn& c) {
    ++c.generation;
    beast::error_code ignored;
    c.sock.close(ignored);
    c.buffer.clear();
    c.busy = false;
    ++reconnects_;
    const std::uint64_t gen = c.generation;
    c.sock.async_connect(ep_, [this, &c, gen](beast::error_code ec) {
      if (gen != c.generation || done_) return;
      if (ec) {
        if (!first_error_) first_error_ = "connect: " + ec.message();
        c.refused = true;
        c.backoff.expires_after(std::chrono::milliseconds(100));
        c.backoff.async_wait([this, &c, gen](beast::error_code ec) {
          if (!ec && gen == c.generation && !done_) reconnect(c);
        });
        return;
      }
      c.sock.set_option(tcp::no_delay(true), ec);
      c.refused = false;
      release(c, now_ns());
    });
  }

  void arm_tick() {
    tick_timer_.expires_after(std::chrono::milliseconds(100));
    tick_timer_.async_wait([this](beast::error_code ec) {
      if (ec || done_) return;
      tick(now_ns());
      arm_tick();
    });
  }

  // Every 100 ms: times out what waited too long, prints the seconds whose
  // requests are all resolved, and ends the run when nothing is left.
  void tick(Nanos now) {
    const Nanos limit = now - timeout_ns_;
    for (auto& cp : conns_) {
      Conn& c = *cp;
      if (c.busy && intended(c.request) < limit) {
        c.busy = false;
        c.parser.reset();
        count_failure(c.request, Failure::timeout);
        reconnect(c);
      }
    }
    // Requests that waited in the queue past the timeout are never sent: a
    // timeout while connections are busy or connecting, a connection error
    // when every connection's last connect failed (the server is gone).
    const bool all_refused =
        std::all_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->refused; });
    const Failure unsent_kind = all_refused ? Failure::connection : Failure::timeout;
    due_ = std::max(due_, due_until(now));
    while (!retries_.empty() && intended(retries_.front()) < limit) {
      count_failure(retries_.front(), unsent_kind);
      ++unsent_;
      retries_.pop_front();
    }
    while (next_ < due_ && intended(next_) < limit) {
      count_failure(next_++, unsent_kind);
      ++unsent_;
    }
    print_resolved_seconds(now);
    maybe_finish();
  }

  void print_resolved_seconds(Nanos now) {
    for (;;) {
      const std::uint64_t s = first_open_second_;
      const std::uint64_t intended = intended_in_second(s);
      if (intended == 0) return;
      // Not over until its last request is due.
      const Nanos over = measure_start_ + static_cast<Nanos>(s + 1) * 1'000'000'000;
      if (over > now && !finished_sending()) return;
      Second& sec = second(s);
      if (sec.resolved() < intended) return;
      print_row(s, intended, sec);
      seconds_.pop_front();
      ++first_open_second_;
    }
  }

  void print_row(std::uint64_t s, std::uint64_t intended, const Second& sec) {
    const Row r{s + 1,
                intended,
                sec.sent,
                sec.completed,
                sec.ok,
                sec.non2xx,
                sec.conn_errors,
                sec.timeouts,
                sec.queued,
                ms(sec.latency.value_at_quantile(0.5)),
                ms(sec.latency.value_at_quantile(0.99)),
                ms(sec.latency.max()),
                ms(static_cast<std::uint64_t>(sec.lag_max))};
    if (sec.lag_max > max_lag_ns_) ++seconds_behind_;
    if (!o_.quiet) {
      if (rows_.empty()) {
        std::printf("%6s %8s %8s %7s %7s %7s %9s %9s %9s %7s %8s\n", "second", "sent", "done",
                    "non2xx", "conn", "timeout", "p50_ms", "p99_ms", "max_ms", "queued", "lag_ms");
      }
      std::printf("%6" PRIu64 " %8" PRIu64 " %8" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64
                  " %9.3f %9.3f %9.3f %7" PRIu64 " %8.3f%s\n",
                  r.second, r.sent, r.completed, r.non2xx, r.conn_errors, r.timeouts, r.p50_ms,
                  r.p99_ms, r.max_ms, r.queued, r.lag_max_ms,
                  sec.lag_max > max_lag_ns_ ? "  generator behind" : "");
      std::fflush(stdout);
    }
    rows_.push_back(r);
  }

  void maybe_finish() {
    if (done_ || !finished_sending()) return;
    for (const auto& c : conns_) {
      if (c->busy) return;
    }
    done_ = true;
    end_ = now_ns();
    cpu_at_end_ = cpu_seconds();
    print_resolved_seconds(end_);
    ioc_.stop();
  }

  net::io_context& ioc_;
  const Options& o_;
  const tcp::endpoint ep_;
  const std::vector<std::string> requests_;
  const std::uint64_t warmup_requests_;
  std::uint64_t total_;  // lowered by an interrupt
  const Nanos timeout_ns_, max_lag_ns_;
  net::steady_timer schedule_timer_, tick_timer_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::deque<Conn*> free_;  // longest free first, so that every connection stays in use
  std::deque<std::uint64_t> retries_;
  std::optional<Nanos> all_busy_since_;
  bool schedule_armed_ = false, interrupted_ = false, done_ = false;
  Nanos t0_ = 0, measure_start_ = 0, end_ = 0;
  std::uint64_t next_ = 0;  // the next request of the schedule
  std::uint64_t due_ = 0;   // requests [next_, due_) are due and waiting
  std::deque<Second> seconds_;
  std::uint64_t first_open_second_ = 0;
  std::vector<Row> rows_;

  // "_total" counts the warm-up too (to compare with the server's log).
  std::uint64_t sent_total_ = 0, ok_total_ = 0, non2xx_total_ = 0, conn_errors_total_ = 0;
  std::uint64_t timeouts_total_ = 0, unsent_ = 0, retried_ = 0, reconnects_ = 0;
  std::uint64_t queued_measured_ = 0, completed_in_window_ = 0, seconds_behind_ = 0;
  std::map<unsigned, std::uint64_t> status_counts_;
  std::optional<std::string> first_error_;
  Histogram latency_;  // from the intended send time, measured requests only
  Histogram service_;  // from the actual send: what a closed-loop tool would report
  Histogram lag_;      // how late the generator sent what a free connection could take
  double cpu_at_start_ = 0, cpu_at_end_ = 0;
};

int Generator::report() const {
  // Sums over the printed seconds: exactly the measured requests.
  Row sum{};
  for (const Row& r : rows_) {
    sum.intended += r.intended;
    sum.sent += r.sent;
    sum.completed += r.completed;
    sum.ok += r.ok;
    sum.non2xx += r.non2xx;
    sum.conn_errors += r.conn_errors;
    sum.timeouts += r.timeouts;
  }
  const double window_s =
      std::min(static_cast<double>(o_.duration_s),
               std::max(1e-9, static_cast<double>(end_ - measure_start_) / 1e9));
  const double wall_s = static_cast<double>(end_ - t0_) / 1e9;
  const double cpu_s = cpu_at_end_ - cpu_at_start_;
  const double achieved = static_cast<double>(completed_in_window_) / window_s;
  const bool behind = lag_.value_at_quantile(0.99) > static_cast<std::uint64_t>(max_lag_ns_);
  auto pct = [](std::uint64_t part, std::uint64_t whole) {
    return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
  };
  struct Quantile {
    const char* name;
    double q;
  };
  const Quantile quantiles[] = {
      {"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}, {"p99.99", 0.9999}};

  std::printf("\nsummary: %" PRIu64 " requests/s intended over %" PRIu64 " connections for %" PRIu64
              " s%s\n",
              o_.rate, o_.connections, o_.duration_s, interrupted_ ? " (interrupted)" : "");
  std::printf("  intended   %" PRIu64 "\n", sum.intended);
  std::printf("  sent       %" PRIu64 " (%.1f/s)\n", sum.sent,
              static_cast<double>(sum.sent) / window_s);
  std::printf("  completed  %" PRIu64 ": 2xx %" PRIu64 ", other status %" PRIu64 "\n",
              sum.completed, sum.ok, sum.non2xx);
  std::printf("  errors     connection %" PRIu64 ", timeout %" PRIu64
              " (no answer %.1f s after the intended time); %" PRIu64
              " of them never sent, for want of a connection\n",
              sum.conn_errors, sum.timeouts, o_.timeout_s, unsent_);
  for (const auto& [status, n] : status_counts_) {
    std::printf("  status %u: %" PRIu64 " (warm-up included)\n", status, n);
  }
  if (first_error_) std::printf("  first error: %s\n", first_error_->c_str());
  std::printf("  achieved   %.1f responses/s in the measured window (target %" PRIu64 ")\n",
              achieved, o_.rate);
  std::printf("  latency from the intended send time, ms:");
  for (const auto& [name, q] : quantiles) {
    std::printf(" %s %.3f", name, ms(latency_.value_at_quantile(q)));
  }
  std::printf(" max %.3f\n", ms(latency_.max()));
  std::printf(
      "  latency from the actual send (what a closed-loop tool sees), ms: p50 %.3f p99 "
      "%.3f max %.3f\n",
      ms(service_.value_at_quantile(0.5)), ms(service_.value_at_quantile(0.99)),
      ms(service_.max()));
  std::printf("  waited for a free connection: %" PRIu64 " requests (%.2f%%)\n", queued_measured_,
              pct(queued_measured_, sum.sent));
  std::printf(
      "  generator lag, ms: p50 %.3f p99 %.3f max %.3f; CPU %.1f us per request, %.0f%% "
      "of one core\n",
      ms(lag_.value_at_quantile(0.5)), ms(lag_.value_at_quantile(0.99)), ms(lag_.max()),
      sent_total_ ? cpu_s / static_cast<double>(sent_total_) * 1e6 : 0.0,
      wall_s > 0 ? 100 * cpu_s / wall_s : 0.0);
  std::printf("  all requests (warm-up included): sent %" PRIu64 ", 2xx %" PRIu64
              ", resent after an idle close %" PRIu64 ", reconnects %" PRIu64 "\n",
              sent_total_, ok_total_, retried_, reconnects_);
  if (pct(queued_measured_, sum.sent) > 1) {
    std::printf(
        "NOTE: every connection was busy when %.1f%% of the requests were due: the server "
        "(or the machine) did not keep up with %" PRIu64 "/s on %" PRIu64
        " connections, and their wait for one is in the latency.\n",
        pct(queued_measured_, sum.sent), o_.rate, o_.connections);
  }
  if (behind) {
    std::printf(
        "WARNING: the generator fell behind its schedule: p99 lag %.3f ms over the "
        "%.3f ms margin (%" PRIu64
        " seconds flagged); the latencies include its own delay. Lower the rate, or give "
        "it a core.\n",
        ms(lag_.value_at_quantile(0.99)), o_.max_lag_ms, seconds_behind_);
  }
  std::fflush(stdout);

  if (!o_.json_file.empty()) {
    nlohmann::json j;
    j["config"] = {{"address", o_.address},
                   {"host", o_.host.empty() ? o_.address : o_.host},
                   {"request", o_.get_path.empty() ? "POST /iam/login" : "GET " + o_.get_path},
                   {"rate", o_.rate},
                   {"duration_s", o_.duration_s},
                   {"warmup_s", o_.warmup_s},
                   {"connections", o_.connections},
                   {"timeout_s", o_.timeout_s},
                   {"max_lag_ms", o_.max_lag_ms}};
    nlohmann::json lat;
    for (const auto& [name, q] : quantiles) {
      lat[std::string(name) + "_ms"] = ms(latency_.value_at_quantile(q));
    }
    lat["max_ms"] = ms(latency_.max());
    lat["mean_ms"] = latency_.mean() / 1e6;
    nlohmann::json statuses = nlohmann::json::object();
    for (const auto& [status, n] : status_counts_) statuses[std::to_string(status)] = n;
    j["summary"] = {{"interrupted", interrupted_},
                    {"intended", sum.intended},
                    {"sent", sum.sent},
                    {"completed", sum.completed},
                    {"ok", sum.ok},
                    {"non2xx", sum.non2xx},
                    {"connection_errors", sum.conn_errors},
                    {"timeouts", sum.timeouts},
                    {"unsent", unsent_},
                    {"achieved_rps", achieved},
                    {"latency", lat},
                    {"service_p50_ms", ms(service_.value_at_quantile(0.5))},
                    {"service_p99_ms", ms(service_.value_at_quantile(0.99))},
                    {"service_max_ms", ms(service_.max())},
                    {"queued", queued_measured_},
                    {"lag_p50_ms", ms(lag_.value_at_quantile(0.5))},
                    {"lag_p99_ms", ms(lag_.value_at_quantile(0.99))},
                    {"lag_max_ms", ms(lag_.max())},
                    {"generator_behind", behind},
                    {"seconds_behind", seconds_behind_},
                    {"cpu_s", cpu_s},
                    {"wall_s", wall_s},
                    {"sent_total", sent_total_},
                    {"ok_total", ok_total_},
                    {"non2xx_total", non2xx_total_},
                    {"connection_errors_total", conn_errors_total_},
                    {"timeouts_total", timeouts_total_},
                    {"statuses_total", statuses},
                    {"resent", retried_},
                    {"reconnects", reconnects_}};
    nlohmann::json rows = nlohmann::json::array();
    for (const Row& r : rows_) {
      rows.push_back({{"second", r.second},
                      {"intended", r.intended},
                      {"sent", r.sent},
                      {"completed", r.completed},
                      {"ok", r.ok},
                      {"non2xx", r.non2xx},
                      {"connection_errors", r.conn_errors},
                      {"timeouts", r.timeouts},
                      {"queued", r.queued},
                      {"p50_ms", r.p50_ms},
                      {"p99_ms", r.p99_ms},
                      {"max_ms", r.max_ms},
                      {"lag_max_ms", r.lag_max_ms}});
    }
    j["seconds"] = std::move(rows);
    std::ofstream out(o_.json_file);
    out << j.dump(1) << "\n";
    if (!out) {
      std::fprintf(stderr, "bench_loadgen: cannot write %s\n", o_.json_file.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace latchkey::bench

int main(int argc, char** argv) {
  using namespace latchkey::bench;
  CLI::App app{
      "bench_loadgen: open-loop HTTP/1.1 load at a constant rate, latency from each "
      "request's intended send time"};
  Options o;
  app.add_option("--address", o.address, "HOST:PORT of the server (loopback in practice)")
      ->required();
  app.add_option("--host", o.host,
                 "The Host header (e.g. acme.localhost:8080 for a project); default: --address");
  app.add_option("--rate", o.rate, "Requests per second, constant")
      ->required()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--duration", o.duration_s, "Measured seconds")
      ->check(CLI::Range(1, 86'400))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "Seconds at the same rate before, not measured")
      ->check(CLI::Range(0, 3'600))
      ->capture_default_str();
  app.add_option("--connections", o.connections, "Keep-alive connections in the pool")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  auto* keys = app.add_option("--keys", o.keys_file,
                              "File of \"apikey secretkey\" lines: POST /iam/login, cycling "
                              "through them");
  auto* get = app.add_option("--get", o.get_path, "Send GET PATH instead (e.g. /healthz)");
  keys->excludes(get);
  app.add_option("--timeout", o.timeout_s,
                 "Seconds from a request's intended time after which it counts as a timeout")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app.add_option("--max-lag", o.max_lag_ms,
                 "Milliseconds: the generator says it fell behind when its p99 lag is over this")
      ->capture_default_str();
  app.add_option("--json", o.json_file, "Also write the summary and the seconds to this file");
  app.add_flag("--quiet", o.quiet, "No per-second lines");
  CLI11_PARSE(app, argc, argv);
  if (o.keys_file.empty() && o.get_path.empty()) {
    std::fprintf(stderr, "bench_loadgen: give --keys FILE (login) or --get PATH\n");
    return 2;
  }
  if (!o.get_path.empty() && o.get_path.front() != '/') o.get_path = "/" + o.get_path;

  const auto colon = o.address.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "bench_loadgen: --address takes HOST:PORT\n");
    return 2;
  }
  net::io_context ioc(1);
  tcp::endpoint ep;
  try {
    // Resolved once: every connection goes to this one address.
    tcp::resolver resolver(ioc);
    std::string host = o.address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    ep = *resolver.resolve(host, o.address.substr(colon + 1)).begin();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loadgen: cannot resolve %s: %s\n", o.address.c_str(), e.what());
    return 2;
  }
  std::vector<std::string> requests;
  try {
    requests = build_requests(o, o.host.empty() ? o.address : o.host);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loadgen: %s\n", e.what());
    return 2;
  }

  Generator gen(ioc, o, ep, std::move(requests));
  if (!gen.connect_all()) return 1;
  std::fprintf(stderr,
               "bench_loadgen: %s on %s, %" PRIu64 " requests/s over %" PRIu64
               " connections for %" PRIu64 " s after a %" PRIu64 " s warm-up\n",
               o.get_path.empty() ? "POST /iam/login" : ("GET " + o.get_path).c_str(),
               ep.address().to_string().c_str(), o.rate, o.connections, o.duration_s, o.warmup_s);
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code ec, int) {
    if (!ec) gen.interrupt();
  });
  gen.start();
  ioc.run();
  return gen.report();
}
