// Keys by email over a real SMTP server (aiosmtpd), failure behaviour with an
// unreachable one, expiry reminders, and a byte scan of the data directory
// for the secrets that went by mail.
#define BOOST_TEST_MODULE email
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include "base/clock.h"
#include "tests/e2e/e2e.h"
#include "tests/email/smtp_sink.h"
#include "tests/support/child_process.h"
#include "tests/support/silent_listener.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::e2e;
using namespace latchkey::email_test;

namespace {

ServerProcess::Options with_smtp(const std::string& url, std::vector<std::string> more = {}) {
  ServerProcess::Options o;
  o.serve_args = {"--set", "smtp.url=" + url, "--set", "smtp.from=keys@latchkey.test"};
  o.serve_args.insert(o.serve_args.end(), more.begin(), more.end());
  return o;
}

// Stops the server (so everything is flushed) and checks that no file of its
// data directory, and none of its logs, holds any of the secrets.
void expect_no_secret_at_rest(ServerProcess& server, const std::vector<std::string>& secrets) {
  BOOST_TEST(server.stop() == 0);
  BOOST_TEST_REQUIRE(!secrets.empty());
  for (const auto& s : secrets) {
    BOOST_TEST_REQUIRE(s.rfind("lks_", 0) == 0);
    for (const std::string& needle : {s, s.substr(4)}) {
      const auto files = test::files_containing(server.data_dir(), needle);
      BOOST_TEST(files.empty(), "a secret is at rest in " << (files.empty() ? "" : files[0]));
    }
    BOOST_TEST(server.stdout_text().find(s.substr(4)) == std::string::npos);
    BOOST_TEST(server.stderr_text().find(s.substr(4)) == std::string::npos);
  }
}

std::vector<json> events_of(const Client& c, const std::string& admin, const std::string& type,
                            std::string* raw = nullptr) {
  const auto r = c.get("/iam/audit?limit=1000&type=" + type, admin);
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
  if (raw) *raw = r.body;
  return r.json().at("events").get<std::vector<json>>();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_user_key_with_send_email_is_mailed_once_to_the_user) {
  SmtpSink sink;
  ServerProcess server(with_smtp(sink.url()));
  Client client(server);
  const std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "Mail Reader", "reader@example.com");

  const auto r =
      client.post(user.base + "/keys", {{"send_email", true}, {"lifetime_days", 30}}, admin);
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  const json k = r.json();
  const std::string apikey = k.at("apikey");
  const std::string secret = k.at("secretkey");
  BOOST_TEST(k.at("email").at("status") == "sent");
  BOOST_TEST(k.at("email").at("to") == "reader@example.com");
  BOOST_TEST(r.header("cache-control") == "no-store");

  // Exactly one message, to the user, with the apikey and the secret.
  const auto mails = sink.messages();
  BOOST_TEST_REQUIRE(mails.size() == 1u);
  const Mail& m = mails[0];
  BOOST_TEST(m.header("to").find("reader@example.com") != std::string::npos);
  BOOST_TEST(m.header("x-rcptto").find("reader@example.com") != std::string::npos);
  BOOST_TEST(m.header("from").find("keys@latchkey.test") != std::string::npos);
  BOOST_TEST(!m.header("subject").empty());
  BOOST_TEST(!m.header("date").empty());
  BOOST_TEST(m.body.find(apikey) != std::string::npos);
  BOOST_TEST(m.body.find(secret) != std::string::npos);
  BOOST_TEST(m.body.find(k.at("expires_at").get<std::string>().substr(0, 10)) != std::string::npos);
  // How to log in: the seed's cURL sample for this server's own URL, and it works.
  BOOST_TEST(m.body.find(server.url("/iam/login")) != std::string::npos, m.body);
  const auto start = m.body.find("curl --request POST");
  BOOST_TEST_REQUIRE(start != std::string::npos);
  const auto end = m.body.find("}'", start);
  BOOST_TEST_REQUIRE(end != std::string::npos);
  const auto ran = test::run_command({"/bin/bash", "-c", m.body.substr(start, end + 2 - start)},
                                     {{"NO_PROXY", "127.0.0.1"}});
  BOOST_TEST_REQUIRE(ran.exit_code == 0, ran.err);
  const json login = json::parse(ran.out, nullptr, false);
  BOOST_TEST_REQUIRE(login.is_object(), ran.out);
  BOOST_TEST(client.introspect(admin, login.value("access_token", "")).at("active") == true);

  // The outcome is an event, without the secret.
  std::string raw;
  const auto sent = events_of(client, admin, "email.sent", &raw);
  BOOST_TEST_REQUIRE(sent.size() == 1u);
  BOOST_TEST(sent[0]["data"]["apikey"] == apikey);
  BOOST_TEST(sent[0]["data"]["to"] == "reader@example.com");
  BOOST_TEST(sent[0]["data"]["kind"] == "key_created");
  BOOST_TEST(sent[0]["data"]["principal_id"] == user.id);
  BOOST_TEST(sent[0]["actor"] == server.admin().principal_id);
  BOOST_TEST(raw.find(secret.substr(4)) == std::string::npos);
  BOOST_TEST(events_of(client, admin, "email.failed").empty());

  // Another user's mail goes to that user only; the first still got one.
  const auto other = client.create_user(admin, "Other", "other@example.com");
  const auto r2 = client.post(other.base + "/keys", {{"send_email", true}}, admin);
  BOOST_TEST_REQUIRE(r2.status == 201, r2.body);
  BOOST_TEST(sink.messages().size() == 2u);
  BOOST_TEST(sink.messages_with(secret).size() == 1u);
  BOOST_TEST(sink.messages_with(r2.json().at("secretkey")).size() == 1u);
  BOOST_TEST(sink.messages_with(r2.json().at("secretkey"))[0]
                 .header("x-rcptto")
                 .find("other@example.com") != std::string::npos);
  // A key without send_email sends nothing.
  client.create_key(admin, user);
  BOOST_TEST(sink.messages().size() == 2u);
  // Self-service keys may be mailed too.
  const std::string user_token = client.login(apikey, secret);
  const auto mine = client.post("/iam/me/keys", {{"send_email", true}}, user_token);
  BOOST_TEST_REQUIRE(mine.status == 201, mine.body);
  BOOST_TEST(mine.json().at("email").at("status") == "sent");
  BOOST_TEST(sink.messages_with(mine.json().at("secretkey")).size() == 1u);

  expect_no_secret_at_rest(server,
                           {secret, r2.json().at("secretkey"), mine.json().at("secretkey")});
}

BOOST_AUTO_TEST_CASE(a_service_account_without_email_is_refused_before_anything_is_written) {
  SmtpSink sink;
  ServerProcess server(with_smtp(sink.url()));
  Client client(server);
  const std::string admin = client.admin_token();
  const auto sa = client.create_service_account(admin, "no mailbox");
  const auto seq_before = client.get("/readyz", "").json().at("seq").get<std::uint64_t>();

  const auto r = client.post(sa.base + "/keys", {{"send_email", true}}, admin);
  expect_error(r, 400, "invalid_request");
  BOOST_TEST(r.json().at("message").get<std::string>().find("email") != std::string::npos, r.body);
  BOOST_TEST(client.get(sa.base + "/keys", admin).json().empty());
  BOOST_TEST(client.get("/readyz", "").json().at("seq").get<std::uint64_t>() == seq_before);
  BOOST_TEST(client.get("/iam/audit?type=key.created&principal_id=" + sa.id, admin)
                 .json()
                 .at("events")
                 .empty());
  BOOST_TEST(sink.messages().empty());

  // Once it has an address, the same request is mailed.
  BOOST_TEST_REQUIRE(client.patch(sa.base, {{"email", "robot@example.com"}}, admin).status == 200);
  const auto ok = client.post(sa.base + "/keys", {{"send_email", true}}, admin);
  BOOST_TEST_REQUIRE(ok.status == 201, ok.body);
  BOOST_TEST(ok.json().at("email").at("status") == "sent");
  BOOST_TEST(sink.messages().size() == 1u);
  BOOST_TEST(sink.messages()[0].header("x-rcptto").find("robot@example.com") != std::string::npos);
  expect_no_secret_at_rest(server, {ok.json().at("secretkey")});
}

BOOST_AUTO_TEST_CASE(send_email_without_smtp_configured_is_refused) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "no smtp", "nosmtp@example.com");
  const auto r = client.post(user.base + "/keys", {{"send_email", true}}, admin);
  expect_error(r, 400, "invalid_request");
  const std::string message = r.json().at("message");
  BOOST_TEST(message.find("SMTP") != std::string::npos, message);
  BOOST_TEST(client.get(user.base + "/keys", admin).json().empty());
  // send_email: false is fine without SMTP.
  BOOST_TEST(client.post(user.base + "/keys", {{"send_email", false}}, admin).status == 201);
}

BOOST_AUTO_TEST_CASE(a_closed_smtp_port_fails_the_email_but_not_the_key) {
  // The port is the test's, bound and never listening: the connection is
  // refused at once, every time. With the longest SMTP timeout there is (ten
  // minutes), a client that waited for it instead would run into the test
  // client's own 30 s, and say "timeout" rather than what happened.
  test::RefusingPort closed;
  ServerProcess server(with_smtp("smtp://127.0.0.1:" + std::to_string(closed.port()),
                                 {"--set", "smtp.timeout_ms=600000"}));
  Client client(server);
  const std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "unlucky", "unlucky@example.com");
  const auto r = client.post(user.base + "/keys", {{"send_email", true}}, admin);
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  const json k = r.json();
  BOOST_TEST(k.at("email").at("status") == "failed");
  const std::string error = k.at("email").at("error");
  BOOST_TEST(error.find("connect") != std::string::npos, error);
  BOOST_TEST(error.find("imeout") == std::string::npos, error);
  BOOST_TEST(!k.at("email").contains("recorded"));
  // The key works: the response holds the secret, as the page says.
  BOOST_TEST(client.login_raw(k.at("apikey"), k.at("secretkey")).status == 200);
  std::string raw;
  const auto failed = events_of(client, admin, "email.failed", &raw);
  BOOST_TEST_REQUIRE(failed.size() == 1u);
  BOOST_TEST(failed[0]["data"]["apikey"] == k.at("apikey"));
  BOOST_TEST(!failed[0]["data"]["error"].get<std::string>().empty());
  BOOST_TEST(raw.find(k.at("secretkey").get<std::string>().substr(4)) == std::string::npos);
  BOOST_TEST(events_of(client, admin, "email.sent").empty());
  expect_no_secret_at_rest(server, {k.at("secretkey")});
}

BOOST_AUTO_TEST_CASE(a_silent_smtp_server_fails_the_email_within_the_timeout) {
  test::SilentListener silent;
  const int timeout_ms = 1500;
  ServerProcess server(with_smtp("smtp://127.0.0.1:" + std::to_string(silent.port()),
                                 {"--set", "smtp.timeout_ms=" + std::to_string(timeout_ms)}));
  Client client(server);
  const std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "waiting", "waiting@example.com");
  const auto started = std::chrono::steady_clock::now();
  const auto r = client.post(user.base + "/keys", {{"send_email", true}}, admin);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  BOOST_TEST_MESSAGE("a silent SMTP server: the response came after " << took.count() << " ms");
  // Not before the timeout; and by the timeout, not by waiting on: the error
  // says so, and the test client's own limit (30 s) is the backstop, rather
  // than a bound on the wall clock that a busy machine would break.
  BOOST_TEST(took.count() >= timeout_ms - 100);
  const json k = r.json();
  BOOST_TEST(k.at("email").at("status") == "failed");
  BOOST_TEST(k.at("email").at("error").get<std::string>().find("imeout") != std::string::npos,
             r.body);
  BOOST_TEST(client.login_raw(k.at("apikey"), k.at("secretkey")).status == 200);
  const auto failed = events_of(client, admin, "email.failed");
  BOOST_TEST_REQUIRE(failed.size() == 1u);
  BOOST_TEST(failed[0]["data"]["apikey"] == k.at("apikey"));
  expect_no_secret_at_rest(server, {k.at("secretkey")});
}

BOOST_AUTO_TEST_CASE(an_expiry_reminder_is_sent_once_and_not_again_after_a_restart) {
  SmtpSink sink;
  ServerProcess server(with_smtp(sink.url(), {"--set", "smtp.reminder_check_seconds=1"}));
  Client client(server);
  std::string admin = client.admin_token();
  BOOST_TEST(client.settings(admin).at("expiry_reminder_days") == 7);
  const auto user = client.create_user(admin, "expiring", "expiring@example.com");
  const auto no_mail = client.create_service_account(admin, "mailless");

  std::vector<std::string> secrets;
  auto key = [&](const Principal& p, int days) {
    const Key k = client.create_key(admin, p, {{"lifetime_days", days}});
    secrets.push_back(k.secretkey);
    return k.apikey;
  };
  auto reminders_for = [&](const std::string& apikey) {
    std::size_t n = 0;
    for (const auto& m : sink.messages_with(apikey)) {
      if (m.header("subject").find("expires") != std::string::npos) ++n;
    }
    return n;
  };

  const std::string soon = key(user, 3);         // within the 7 days: reminded
  const std::string later = key(user, 30);       // not yet
  const std::string no_owner = key(no_mail, 2);  // no address to write to
  BOOST_TEST_REQUIRE(eventually([&] { return reminders_for(soon) == 1; }));
  const Mail m = sink.messages_with(soon).at(0);
  BOOST_TEST(m.header("x-rcptto").find("expiring@example.com") != std::string::npos);
  BOOST_TEST(m.body.find(soon) != std::string::npos);
  for (const auto& s : secrets) BOOST_TEST(m.raw.find(s.substr(4)) == std::string::npos);

  // A key made after that is reminded on a later pass: by then the first
  // key has been looked at again, and was not mailed twice.
  const std::string second = key(user, 2);
  BOOST_TEST_REQUIRE(eventually([&] { return reminders_for(second) == 1; }));
  BOOST_TEST(reminders_for(soon) == 1u);
  BOOST_TEST(reminders_for(later) == 0u);
  BOOST_TEST(sink.messages().size() == 2u);

  // The reminders are events (recorded once the SMTP server has accepted the
  // message, so a moment after the sink holds it).
  std::vector<json> sent;
  BOOST_TEST_REQUIRE(eventually([&] {
    sent = events_of(client, admin, "email.sent");
    return sent.size() == 2u;
  }));
  for (const auto& e : sent) {
    BOOST_TEST(e["data"]["kind"] == "expiry_reminder");
    BOOST_TEST(e["actor"] == "system");
  }

  // After a restart: a new key is reminded (so passes run again), the old
  // ones are not mailed again.
  BOOST_TEST(server.stop() == 0);
  server.start();
  admin = client.admin_token();
  const std::string third = key(user, 1);
  BOOST_TEST_REQUIRE(eventually([&] { return reminders_for(third) == 1; }));
  BOOST_TEST(reminders_for(soon) == 1u);
  BOOST_TEST(reminders_for(second) == 1u);
  BOOST_TEST(reminders_for(later) == 0u);
  BOOST_TEST(reminders_for(no_owner) == 0u);
  BOOST_TEST(sink.messages().size() == 3u);
  BOOST_TEST(eventually([&] { return events_of(client, admin, "email.sent").size() == 3u; }));

  expect_no_secret_at_rest(server, secrets);
}

BOOST_AUTO_TEST_CASE(every_active_project_gets_its_reminders_even_when_not_open) {
  // Made on a server without mail: two projects, each with a key due a
  // reminder. Restarted with mail, neither project is open (no request has
  // reached it), and the reminder pass still finds acme's key; suspended
  // beta's key waits until beta is resumed.
  ServerProcess first;
  Client c1(first);
  auto call = [](const Client& c, const std::string& host, const std::string& method,
                 const std::string& path, const json& body, const std::string& token) {
    std::vector<std::string> headers{"Host: " + host};
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    if (!body.is_null()) headers.push_back("Content-Type: application/json");
    const auto r = c.call(method, path, body.is_null() ? "" : body.dump(), headers);
    BOOST_REQUIRE_MESSAGE(r.status / 100 == 2, method << " " << path << ": " << r.body);
    return r.json();
  };
  // At a project's host: /iam/login; at the base domain: /platform/login.
  auto login = [&](const Client& c, const std::string& host, const std::string& path,
                   const std::string& apikey, const std::string& secretkey) -> std::string {
    return call(c, host, "POST", path,
                {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}}, "")
        .at("access_token");
  };
  const std::string base1 = "localhost:" + std::to_string(first.port());
  const std::string op =
      login(c1, base1, "/platform/login", first.platform().apikey, first.platform().secretkey);
  json admins, due;
  for (const char* id : {"acme", "beta"}) {
    admins[id] = call(c1, base1, "POST", "/platform/projects", {{"id", id}}, op).at("admin");
    const std::string host = std::string(id) + ".localhost:" + std::to_string(first.port());
    const std::string admin =
        login(c1, host, "/iam/login", admins[id].at("apikey"), admins[id].at("secretkey"));
    const json user = call(c1, host, "POST", "/iam/users",
                           {{"name", "owner"}, {"email", std::string(id) + "@example.com"}}, admin);
    const std::string uid = user.at("id");
    due[id] = call(c1, host, "POST", "/iam/users/" + uid + "/keys", {{"lifetime_days", 3}}, admin)
                  .at("apikey");
  }
  call(c1, base1, "PATCH", "/platform/projects/beta", {{"status", "suspended"}}, op);
  BOOST_TEST(first.stop() == 0);

  SmtpSink sink;
  ServerProcess::Options o = with_smtp(sink.url(), {"--set", "smtp.reminder_check_seconds=1"});
  o.data_dir = first.data_dir();
  ServerProcess second(o);
  Client c2(second);
  const std::string port = std::to_string(second.port());
  BOOST_TEST_REQUIRE(eventually([&] { return sink.messages_with(due["acme"]).size() == 1u; }));
  const Mail m = sink.messages_with(due["acme"]).at(0);
  BOOST_TEST(m.header("x-rcptto").find("acme@example.com") != std::string::npos);
  // The project's own URL, not the base domain's.
  BOOST_TEST(m.body.find("http://acme.localhost:" + port + "/iam/me/keys") != std::string::npos,
             m.body);
  // Recorded in acme's log, not in the default project's.
  const std::string acme_host = "acme.localhost:" + port;
  const std::string acme_admin = login(c2, acme_host, "/iam/login", admins["acme"].at("apikey"),
                                       admins["acme"].at("secretkey"));
  BOOST_TEST_REQUIRE(eventually([&] {
    return call(c2, acme_host, "GET", "/iam/audit?type=email.sent", json(), acme_admin)
               .at("events")
               .size() == 1u;
  }));
  BOOST_TEST(
      events_of(c2, c2.login(first.admin().apikey, first.admin().secretkey), "email.sent").empty());
  // Three more passes: still nothing for suspended beta, nor again for acme.
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  BOOST_TEST(sink.messages_with(due["beta"]).empty());
  BOOST_TEST(sink.messages().size() == 1u);
  const std::string base2 = "localhost:" + port;
  const std::string op2 =
      login(c2, base2, "/platform/login", first.platform().apikey, first.platform().secretkey);
  call(c2, base2, "PATCH", "/platform/projects/beta", {{"status", "active"}}, op2);
  BOOST_TEST_REQUIRE(eventually([&] { return sink.messages_with(due["beta"]).size() == 1u; }));
  BOOST_TEST(sink.messages_with(due["beta"]).at(0).body.find("http://beta.localhost:" + port) !=
             std::string::npos);
  BOOST_TEST(second.stop() == 0);
}

BOOST_AUTO_TEST_CASE(sigterm_during_a_reminder_delivery_records_its_outcome_and_exits_0) {
  // The reminder's SMTP server accepts the connection and says nothing, so
  // the delivery is certainly under way when SIGTERM arrives.
  test::SilentListener silent;
  ServerProcess server(
      with_smtp("smtp://127.0.0.1:" + std::to_string(silent.port()),
                {"--set", "smtp.timeout_ms=2000", "--set", "smtp.reminder_check_seconds=1"}));
  Client client(server);
  const std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "stopping", "stopping@example.com");
  const Key k = client.create_key(admin, user, {{"lifetime_days", 2}});
  BOOST_TEST_REQUIRE(eventually([&] { return silent.accept_one(); }));
  BOOST_TEST(server.stop() == 0, server.stderr_text());
  // The failed delivery was recorded before the process exited: after a
  // restart the log has it (and the reminder is tried again, being unsent).
  server.start();
  const std::string again = client.admin_token();
  const auto failed = events_of(client, again, "email.failed");
  BOOST_TEST_REQUIRE(failed.size() >= 1u);
  BOOST_TEST(failed[0]["data"]["apikey"] == k.apikey);
  BOOST_TEST(failed[0]["data"]["kind"] == "expiry_reminder");
  BOOST_TEST(events_of(client, again, "email.sent").empty());
  expect_no_secret_at_rest(server, {k.secretkey});
}

BOOST_AUTO_TEST_CASE(mail_goes_over_starttls_and_smtps_when_configured) {
  test::TempDir dir;
  const auto tls = test::make_loopback_certificate(dir.path());
  for (const auto mode : {SmtpSink::Tls::starttls, SmtpSink::Tls::smtps}) {
    const bool starttls = mode == SmtpSink::Tls::starttls;
    BOOST_TEST_CONTEXT((starttls ? "STARTTLS" : "SMTPS")) {
      SmtpSink sink(mode, tls.cert, tls.key);
      std::vector<std::string> more = {"--set", "smtp.ca_file=" + tls.cert, "--set",
                                       "smtp.timeout_ms=5000"};
      if (starttls) more.insert(more.end(), {"--set", "smtp.starttls=true"});
      ServerProcess server(with_smtp(sink.url(), more));
      Client client(server);
      const std::string admin = client.admin_token();
      const auto user = client.create_user(admin, "encrypted", "tls@example.com");
      const auto r = client.post(user.base + "/keys", {{"send_email", true}}, admin);
      BOOST_TEST_REQUIRE(r.status == 201, r.body);
      BOOST_TEST(r.json().at("email").at("status") == "sent", r.body);
      const auto mails = sink.messages_with(r.json().at("secretkey"));
      BOOST_TEST_REQUIRE(mails.size() == 1u);
      BOOST_TEST(mails[0].header("x-rcptto").find("tls@example.com") != std::string::npos);
      expect_no_secret_at_rest(server, {r.json().at("secretkey")});
    }
  }
  // A certificate the server does not trust: the mail fails, the key stands.
  SmtpSink sink(SmtpSink::Tls::smtps, tls.cert, tls.key);
  ServerProcess server(with_smtp(sink.url(), {"--set", "smtp.timeout_ms=5000"}));
  Client client(server);
  const std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "untrusted", "untrusted@example.com");
  const auto r = client.post(user.base + "/keys", {{"send_email", true}}, admin);
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  BOOST_TEST(r.json().at("email").at("status") == "failed");
  BOOST_TEST(sink.messages().empty());
  BOOST_TEST(client.login_raw(r.json().at("apikey"), r.json().at("secretkey")).status == 200);
}

BOOST_AUTO_TEST_CASE(bad_smtp_configuration_stops_the_server_from_starting) {
  test::TempDir dir;
  const auto init = test::run_latchkey({"init", "--data", dir / "data"});
  BOOST_TEST_REQUIRE(init.exit_code == 0, init.err);
  const std::string creds = dir / "smtp.credentials";
  {
    std::ofstream f(creds);
    f << "mailer:hunter2-very-secret\n";
  }
  ::chmod(creds.c_str(), 0644);
  const auto readable = test::run_latchkey_failing(
      {"serve", "--data", dir / "data", "--listen", "127.0.0.1:0", "--set",
       "smtp.url=smtp://127.0.0.1:25", "--set", "smtp.credentials_file=" + creds});
  BOOST_TEST(readable.exit_code == 1);
  BOOST_TEST(readable.err.find("chmod 600") != std::string::npos, readable.err);
  BOOST_TEST(readable.err.find("hunter2") == std::string::npos);

  const auto wrong_scheme =
      test::run_latchkey_failing({"serve", "--data", dir / "data", "--listen", "127.0.0.1:0",
                                  "--set", "smtp.url=http://mail"});
  BOOST_TEST(wrong_scheme.exit_code == 1);
  BOOST_TEST(wrong_scheme.err.find("smtp://") != std::string::npos, wrong_scheme.err);
}

// A key used with its secret from outside its allowed networks: its owner
// hears of it once per network and day (surviving a restart), never with
// the secret; a wrong secret from outside is not worth an email.
BOOST_AUTO_TEST_CASE(a_blocked_use_is_mailed_to_the_owner_once_per_network_and_day) {
  SmtpSink sink;
  ServerProcess server(with_smtp(sink.url(), {"--set", "server.trusted_proxies=127.0.0.1/32"}));
  Client client(server);
  std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "Pinned Owner", "pinned@example.com");
  const Key k = client.create_key(
      admin, user, {{"allowed_cidrs", {"192.0.2.0/24"}}, {"description", "build box"}});
  auto from = [&](const std::string& address, const std::string& secret) {
    const json body = {{"auth_mode", "apikey"}, {"apikey", k.apikey}, {"secretkey", secret}};
    return client.call("POST", "/iam/login", body.dump(),
                       {"Content-Type: application/json", "X-Forwarded-For: " + address});
  };
  auto blocked_mails = [&] {
    std::size_t n = 0;
    for (const auto& m : sink.messages_with(k.apikey)) {
      if (m.header("subject").find("blocked use") != std::string::npos) ++n;
    }
    return n;
  };
  auto blocked_sent = [&] {
    std::vector<json> out;
    for (const auto& e : events_of(client, admin, "email.sent")) {
      if (e["data"]["kind"] == "blocked_use") out.push_back(e);
    }
    return out;
  };

  BOOST_TEST(from("192.0.2.5", k.secretkey).status == 200);  // inside: nothing to say
  BOOST_TEST(from("198.51.100.7", "lks_" + std::string(72, '0')).status == 401);  // wrong secret
  BOOST_TEST(from("198.51.100.7", k.secretkey).status == 401);
  BOOST_TEST_REQUIRE(eventually([&] { return blocked_sent().size() == 1u; }));
  BOOST_TEST(blocked_mails() == 1u);
  const Mail m = sink.messages_with(k.apikey).at(0);
  BOOST_TEST(m.header("x-rcptto").find("pinned@example.com") != std::string::npos);
  BOOST_TEST(m.body.find("198.51.100.7") != std::string::npos);
  BOOST_TEST(m.body.find("build box") != std::string::npos);
  BOOST_TEST(m.raw.find(k.secretkey.substr(4)) == std::string::npos);
  const json sent = blocked_sent().at(0);
  BOOST_TEST(sent["data"]["network"] == "198.51.100.0/24");
  BOOST_TEST(sent["data"]["apikey"] == k.apikey);
  BOOST_TEST(sent["source_ip"] == "198.51.100.7");

  // The same network again: refused, not mailed. Another network: mailed.
  BOOST_TEST(from("198.51.100.8", k.secretkey).status == 401);
  BOOST_TEST(from("203.0.113.9", k.secretkey).status == 401);
  BOOST_TEST_REQUIRE(eventually([&] { return blocked_sent().size() == 2u; }));
  BOOST_TEST(blocked_mails() == 2u);

  // After a restart the day's notices still count.
  BOOST_TEST(server.stop() == 0);
  server.start();
  admin = client.admin_token();
  BOOST_TEST(from("198.51.100.9", k.secretkey).status == 401);
  BOOST_TEST(from("2001:db8::1", k.secretkey).status == 401);  // a third network, IPv6
  BOOST_TEST_REQUIRE(eventually([&] { return blocked_sent().size() == 3u; }));
  BOOST_TEST(blocked_sent().at(2)["data"]["network"] == "2001:db8::/64");
  BOOST_TEST(blocked_mails() == 3u);
  expect_no_secret_at_rest(server, {k.secretkey});
}
