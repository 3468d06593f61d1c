#include <boost/test/unit_test.hpp>

#include <random>
#include <set>

#include "events/codec.h"
#include "http/render.h"
#include "replay/queries.h"
#include "tests/replay/history.h"

using namespace latchkey;
using latchkey::test::History;

namespace {

// Every event of the log, for an oracle that filters by brute force.
std::vector<events::Event> everything(const events::EventLog& log) {
  std::vector<events::Event> out;
  BOOST_REQUIRE(log.scan(1, UINT64_MAX, [&](const events::Event& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

bool oracle(const replay::AuditFilter& f, const events::Event& e) {
  if (f.type && e.type != *f.type) return false;
  if (f.from && e.time < *f.from) return false;
  if (f.to && e.time > *f.to) return false;
  if (f.actor && e.context.actor != *f.actor) return false;
  const auto s = events::subjects_of(e);
  if (f.principal_id && s.principal_id != *f.principal_id) return false;
  if (f.apikey && std::find(s.apikeys.begin(), s.apikeys.end(), *f.apikey) == s.apikeys.end())
    return false;
  return true;
}

// All pages of a query, following the cursors.
std::vector<events::Seq> all_pages(const events::EventLog& log, replay::AuditFilter f) {
  std::vector<events::Seq> out;
  for (int guard = 0; guard < 100000; ++guard) {
    auto page = replay::audit_page(log, f);
    BOOST_REQUIRE(page.has_value());
    BOOST_REQUIRE(page->events.size() <= f.limit);
    for (const auto& e : page->events) out.push_back(e.seq);
    if (!page->next) return out;
    BOOST_REQUIRE(page->events.size() == f.limit);
    (f.descending ? f.before : f.after) = *page->next;
  }
  BOOST_FAIL("pagination did not end");
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(audit_queries)

BOOST_AUTO_TEST_CASE(filters_combine_and_pages_return_every_event_once_both_ways) {
  test::TempDir dir;
  History h(dir / "log", 11);
  for (int i = 0; i < 1500; ++i) h.step();
  const auto all = everything(h.log());
  // Interesting values taken from the log itself.
  std::vector<std::string> apikeys, principals;
  for (const auto& e : all) {
    const auto s = events::subjects_of(e);
    if (!s.apikeys.empty() && apikeys.size() < 4) apikeys.push_back(s.apikeys.front());
    if (!s.principal_id.empty() && principals.size() < 4) principals.push_back(s.principal_id);
  }
  const Micros t0 = all[all.size() / 4].time, t1 = all[all.size() * 3 / 4].time;
  std::vector<replay::AuditFilter> filters;
  auto add = [&](auto&& edit) {
    replay::AuditFilter f;
    f.limit = 7;
    edit(f);
    filters.push_back(f);
    f.descending = true;
    filters.push_back(f);
  };
  add([](auto&) {});
  add([&](auto& f) { f.apikey = apikeys[0]; });
  add([&](auto& f) { f.principal_id = principals[1]; });
  add([&](auto& f) { f.type = events::EventType::token_issued; });
  add([&](auto& f) { f.actor = "anonymous"; });
  // Anonymous callers are not in the actor index: these read the log or the type index.
  add([&](auto& f) {
    f.actor = "anonymous";
    f.type = events::EventType::login_failed;
  });
  add([&](auto& f) {
    f.actor = "anonymous";
    f.from = t0;
    f.to = t1;
  });
  add([&](auto& f) {
    f.actor = "anonymous";
    f.apikey = apikeys[1];
  });
  add([&](auto& f) {
    f.from = t0;
    f.to = t1;
  });
  add([&](auto& f) {
    f.apikey = apikeys[1];
    f.type = events::EventType::login_failed;
  });
  add([&](auto& f) {
    f.principal_id = principals[2];
    f.from = t0;
  });
  add([&](auto& f) {
    f.type = events::EventType::key_created;
    f.actor = "system";
    f.to = t1;
  });
  add([&](auto& f) {
    f.apikey = apikeys[2];
    f.principal_id = principals[0];
  });
  add([&](auto& f) { f.apikey = "lk_000000000000000000000000"; });  // nothing
  for (const auto& f : filters) {
    BOOST_TEST_CONTEXT(f.describe()) {
      std::vector<events::Seq> expect;
      for (const auto& e : all) {
        if (oracle(f, e)) expect.push_back(e.seq);
      }
      if (f.descending) std::reverse(expect.begin(), expect.end());
      const auto got = all_pages(h.log(), f);
      BOOST_TEST(got == expect, boost::test_tools::per_element());
      BOOST_TEST(std::set<events::Seq>(got.begin(), got.end()).size() == got.size());
    }
  }
  h.stop();
}

BOOST_AUTO_TEST_CASE(a_page_stops_at_upto) {
  test::TempDir dir;
  History h(dir / "log", 12);
  for (int i = 0; i < 200; ++i) h.step();
  replay::AuditFilter f;
  f.upto = 50;
  f.limit = 1000;
  auto page = replay::audit_page(h.log(), f);
  BOOST_TEST(page->events.size() == 50u);
  BOOST_TEST(page->events.back().seq == 50u);
  h.stop();
}

BOOST_AUTO_TEST_CASE(query_parameters_are_checked) {
  const std::vector<std::pair<std::map<std::string, std::string>, bool>> cases = {
      {{{"apikey", "lk_1"}, {"type", "token.issued"}, {"limit", "10"}}, true},
      {{{"type", "token.stolen"}}, false},
      {{{"from", "yesterday"}}, false},
      {{{"from", "2026-01-02T00:00:00Z"}, {"to", "2026-01-01T00:00:00Z"}}, false},
      {{{"limit", "0"}}, false},
      {{{"limit", "1001"}}, false},
      {{{"limit", "-1"}}, false},
      {{{"after", "12"}, {"order", "desc"}}, false},
      {{{"before", "12"}, {"order", "desc"}}, true},
      {{{"order", "sideways"}}, false},
      {{{"color", "red"}}, false},
      {{{"after", "99999999999999999999999"}}, false},
  };
  for (const auto& [params, ok] : cases) {
    auto f = replay::parse_audit_filter(params);
    BOOST_TEST(f.has_value() == ok);
    if (!f) BOOST_TEST(static_cast<int>(f.error().code) == static_cast<int>(Errc::invalid_request));
  }
}

BOOST_AUTO_TEST_CASE(diff_counts_what_changed_between_two_points) {
  test::TempDir dir;
  History h(dir / "log", 13);
  for (int i = 0; i < 600; ++i) h.step();
  const auto all = everything(h.log());
  const events::Seq from = all.size() / 3, to = all.size() * 2 / 3;
  auto d = replay::diff(h.log(), replay::Point{from, all[from - 1].time},
                        replay::Point{to, all[to - 1].time});
  BOOST_REQUIRE(d.has_value());
  std::uint64_t tokens = 0, keys_created = 0;
  for (events::Seq s = from + 1; s <= to; ++s) {
    tokens += all[s - 1].type == events::EventType::token_issued;
    keys_created += all[s - 1].type == events::EventType::key_created;
  }
  BOOST_TEST(d->events == to - from);
  BOOST_TEST(d->tokens_issued == tokens);
  std::uint64_t by_key = 0;
  for (const auto& [k, n] : d->tokens_by_key) by_key += n;
  BOOST_TEST(by_key == tokens);
  std::uint64_t created = 0;
  for (const auto& k : d->keys) created += k.what == "created";
  BOOST_TEST(created == keys_created);
  BOOST_TEST_REQUIRE(!d->keys.empty());
  for (const auto& k : d->keys) {
    BOOST_TEST(k.seq > from);
    BOOST_TEST(k.seq <= to);
    BOOST_TEST(!k.apikey.empty());
  }
  // The JSON of GET /iam/replay/diff says the same.
  const auto j = http::diff_json(*d);
  BOOST_TEST(j["events"].get<std::uint64_t>() == to - from);
  BOOST_TEST(j["tokens_issued"]["total"].get<std::uint64_t>() == tokens);
  BOOST_TEST(j["keys"].size() == d->keys.size());
  BOOST_TEST(!replay::diff(h.log(), replay::Point{to, 0}, replay::Point{from, 0}).has_value());
  h.stop();
}

// The oracle of the tokens live at a point: every token.issued up to its seq
// whose exp is after its instant, found by reading the whole log.
std::vector<std::string> live_by_reading_everything(const std::vector<events::Event>& all,
                                                    const replay::Point& p) {
  std::vector<std::string> out;
  for (events::Seq s = 1; s <= p.seq; ++s) {
    const auto* d = std::get_if<events::TokenIssued>(&all[s - 1].data);
    if (d && d->exp > p.time / kMicrosPerSecond) out.push_back(d->jti);
  }
  return out;
}

std::vector<std::string> jtis(const replay::State& st) {
  std::vector<std::string> out;
  for (const auto& t : st.live_tokens) out.push_back(t.jti);
  return out;
}

BOOST_AUTO_TEST_CASE(the_tokens_live_at_a_point_are_those_the_whole_log_says) {
  test::TempDir dir;
  History h(dir / "log", 17);
  for (int i = 0; i < 800; ++i) h.step();
  const auto all = everything(h.log());
  std::vector<events::Seq> issued;
  for (const auto& e : all) {
    if (e.type == events::EventType::token_issued) issued.push_back(e.seq);
  }
  BOOST_REQUIRE(!issued.empty());
  std::mt19937_64 rng(5);
  std::size_t points_with_tokens = 0;
  for (int i = 0; i < 200; ++i) {
    // Any point, or one at a token.issued (so that most lists are not empty).
    const events::Seq seq = i % 4 < 2 ? 1 + rng() % all.size() : issued[rng() % issued.size()];
    // The instant of the event (as a point given by seq), or one before the next.
    Micros t = all[seq - 1].time;
    if (seq < all.size() && i % 2 && all[seq].time > t)
      t += static_cast<Micros>(rng() % (all[seq].time - t));
    const replay::Point p{seq, t};
    auto st = replay::state_at(h.log(), p);
    BOOST_REQUIRE(st.has_value());
    BOOST_TEST_CONTEXT("seq " << seq << " at " << t) {
      const auto want = live_by_reading_everything(all, p);
      BOOST_TEST(jtis(*st) == want, boost::test_tools::per_element());
      points_with_tokens += !want.empty();
    }
  }
  BOOST_TEST(points_with_tokens > 60u);  // the comparison was not of empty lists
  h.stop();
}

// A token issued under a long lifetime stays live after the lifetime is
// shortened: the window replay looks back over is the longest lifetime ever.
BOOST_AUTO_TEST_CASE(a_long_lived_token_is_found_after_the_lifetime_was_shortened) {
  test::TempDir dir;
  History h(dir / "log", 3);
  h.command(domain::ChangeSettings{{{"token_lifetime_seconds", 7200}}});
  h.log_in(true);  // no principal yet: creates one
  h.log_in(true);  // no key yet: creates one
  h.log_in(true);
  h.command(domain::ChangeSettings{{{"token_lifetime_seconds", 60}}});
  h.clock().advance(1800 * kMicrosPerSecond);
  h.log_in(true);
  const auto all = everything(h.log());
  std::vector<std::string> issued;
  for (const auto& e : all) {
    if (const auto* d = std::get_if<events::TokenIssued>(&e.data)) issued.push_back(d->jti);
  }
  BOOST_REQUIRE(issued.size() == 2u);
  const events::Seq head = all.size();
  auto now = replay::state_at(h.log(), replay::Point{head, all.back().time});
  BOOST_REQUIRE(now.has_value());
  BOOST_TEST(jtis(*now) == issued, boost::test_tools::per_element());
  BOOST_TEST(now->views.longest_token_lifetime_seconds == 7200);
  // 61 s on, the short-lived one has expired; 2 h on, both.
  auto later =
      replay::state_at(h.log(), replay::Point{head, all.back().time + 61 * kMicrosPerSecond});
  BOOST_REQUIRE(later.has_value());
  BOOST_TEST(jtis(*later) == std::vector<std::string>{issued[0]}, boost::test_tools::per_element());
  auto gone =
      replay::state_at(h.log(), replay::Point{head, all.back().time + 7200 * kMicrosPerSecond});
  BOOST_REQUIRE(gone.has_value());
  BOOST_TEST(gone->live_tokens.empty());
  // The JSON of GET /iam/replay/state lists the same tokens, with their key.
  const auto j = http::state_json(*now, all.back().time);
  BOOST_TEST_REQUIRE(j["live_tokens"].size() == 2u);
  BOOST_TEST(j["live_tokens"][0]["jti"] == issued[0]);
  BOOST_TEST(j["live_tokens"][0]["active"] == true);
  h.stop();
}

BOOST_AUTO_TEST_SUITE_END()
