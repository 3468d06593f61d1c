#include <boost/test/unit_test.hpp>

#include "domain/projects.h"

using namespace latchkey;
using namespace latchkey::domain;
using projections::ProjectRegistry;
using projections::ProjectStatus;

namespace {

events::Event committed(events::Draft d, events::Seq seq) {
  events::Event e;
  e.seq = seq;
  e.time = static_cast<Micros>(seq) * 1000;
  e.type = d.type;
  e.data = std::move(d.data);
  return e;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(projects)

BOOST_AUTO_TEST_CASE(a_project_id_is_a_dns_label_and_not_reserved) {
  const std::vector<std::string> good = {"a", "acme", "acme-corp", "a1", "0", std::string(63, 'x')};
  for (const auto& ok : good) {
    BOOST_TEST_CONTEXT(ok) { BOOST_TEST(check_project_id(ok).has_value()); }
  }
  const std::vector<std::string> bad_ids = {"",
                                            "-acme",
                                            "acme-",
                                            "Acme",
                                            "ac_me",
                                            "ac.me",
                                            "acmé",
                                            "www",
                                            "api",
                                            "platform",
                                            std::string(64, 'x')};
  for (const auto& bad : bad_ids) {
    BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!check_project_id(bad).has_value()); }
  }
  BOOST_TEST(check_project_name("Acme Corp").has_value());
  BOOST_TEST(!check_project_name("").has_value());
  BOOST_TEST(!check_project_name("a\nb").has_value());
  BOOST_TEST(!check_project_name(std::string(201, 'n')).has_value());
}

BOOST_AUTO_TEST_CASE(an_id_is_never_reused_and_changes_follow_the_registry) {
  ProjectRegistry reg;
  auto created = create_project(reg, "acme", "Acme");
  BOOST_REQUIRE(created.has_value());
  BOOST_TEST((created->type == events::EventType::project_created));
  reg.apply(committed(*created, 1));
  BOOST_TEST((create_project(reg, "acme", "Again").error().code == Errc::exists));

  // Nothing to change: no event.
  BOOST_TEST(update_project(reg, "acme", ProjectPatch{"Acme", {}, {}})->empty());
  auto renamed =
      update_project(reg, "acme", ProjectPatch{"Acme Corp", 50, ProjectStatus::suspended});
  BOOST_REQUIRE(renamed.has_value());
  BOOST_REQUIRE(renamed->size() == 2u);
  BOOST_TEST(((*renamed)[0].type == events::EventType::project_updated));
  const auto& u = std::get<events::ProjectChanged>((*renamed)[0].data);
  BOOST_TEST(u.name == "Acme Corp");
  BOOST_TEST(u.old_name == "Acme");
  BOOST_TEST(u.login_rate_per_second == 50u);
  BOOST_TEST(u.old_login_rate_per_second == 0u);
  BOOST_TEST(((*renamed)[1].type == events::EventType::project_suspended));
  reg.apply(committed((*renamed)[0], 2));
  reg.apply(committed((*renamed)[1], 3));
  BOOST_TEST((reg.find("acme")->status == ProjectStatus::suspended));
  BOOST_TEST(reg.find("acme")->login_rate_per_second == 50u);
  BOOST_TEST(reg.find("acme")->name == "Acme Corp");
  BOOST_TEST(!update_project(reg, "acme", ProjectPatch{{}, 2'000'000, {}}).has_value());
  BOOST_TEST(!update_project(reg, "acme", ProjectPatch{"", {}, {}}).has_value());
  BOOST_TEST(
      (update_project(reg, "nope", ProjectPatch{"x", {}, {}}).error().code == Errc::not_found));

  auto deleted = delete_project(reg, "acme", 42, Digest{});
  BOOST_REQUIRE(deleted.has_value());
  BOOST_TEST(std::get<events::ProjectChanged>(deleted->data).final_seq == 42u);
  reg.apply(committed(*deleted, 4));
  BOOST_TEST((delete_project(reg, "acme", 0, Digest{}).error().code == Errc::not_found));
  BOOST_TEST((create_project(reg, "acme", "Back").error().code == Errc::exists));
  BOOST_TEST(reg.list("", "", 10).items.empty());

  reg.apply(committed(*create_project(reg, "default", "Default"), 5));
  BOOST_TEST((delete_project(reg, "default", 1, Digest{}).error().code == Errc::invalid_request));
}

BOOST_AUTO_TEST_CASE(the_list_searches_id_and_name_and_pages_by_cursor) {
  ProjectRegistry reg;
  events::Seq seq = 0;
  for (const char* id : {"alpha", "beta", "gamma", "delta"}) {
    reg.apply(committed(*create_project(reg, id, std::string("Team ") + id), ++seq));
  }
  BOOST_TEST(reg.list("TEAM G", "", 10).items.size() == 1u);
  BOOST_TEST(reg.list("a", "", 10).items.size() == 4u);
  const auto first = reg.list("", "", 3);
  BOOST_TEST(first.items.size() == 3u);
  BOOST_TEST(first.next == "delta");
  const auto second = reg.list("", first.next, 3);
  BOOST_TEST(second.items.size() == 1u);
  BOOST_TEST(second.items[0].id == "gamma");
  BOOST_TEST(second.next.empty());
}

BOOST_AUTO_TEST_SUITE_END()
