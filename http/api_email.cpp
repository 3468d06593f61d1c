// The email that carries a new key to its owner (send_email: true).
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/awaitable.h"

namespace latchkey::http {

namespace {

std::string login_sample(const std::string& url, const std::string& apikey,
                         const std::string& secretkey) {
  return "curl --request POST \\\n"
         "  --url " +
         url +
         "/iam/login \\\n"
         "  --header 'Content-Type: application/json' \\\n"
         "  --data '{\n"
         "    \"auth_mode\": \"apikey\",\n"
         "    \"apikey\": \"" +
         apikey +
         "\",\n"
         "    \"secretkey\": \"" +
         secretkey +
         "\"\n"
         "  }'\n";
}

}  // namespace

std::string public_url_of(const Config& c) {
  if (!c.public_url.empty()) return c.public_url;
  return std::string(c.tls_cert.empty() ? "http://" : "https://") + c.listen;
}

std::string public_url_of(const Config& c, const std::string& project_url) {
  return project_url.empty() ? public_url_of(c) : project_url;
}

boost::asio::awaitable<nlohmann::json> Api::send_key_email(const events::RequestContext& ctx,
                                                           const std::string& apikey,
                                                           const std::string& secretkey) const {
  const auto [to, principal_id, expires_at] = d_.views.read([&](const projections::Views& v) {
    const auto* k = v.keys.find(apikey);
    const auto& p = v.principals.at(k->principal);
    return std::tuple{p.email, p.id, k->expires_at};
  });
  const std::string url = public_url_of(d_.config, d_.public_url);
  MailMessage m;
  m.to = to;
  m.subject = "Your new latchkey API key";
  m.body =
      "Hello,\n\n"
      "An API key and secret key were created for you on " +
      url +
      ".\n\n"
      "  API key:    " +
      apikey +
      "\n"
      "  Secret key: " +
      secretkey +
      "\n"
      "  Expires:    " +
      format_rfc3339_seconds(expires_at) +
      "\n\n"
      "Keep the secret key safe: there is no way to view it again.\n\n"
      "To get a short-lived access token:\n\n" +
      login_sample(url, apikey, secretkey);
  auto sending = send(*d_.mailer, std::move(m));
  const Status sent = co_await std::move(sending);
  d_.metrics.email(sent ? "sent" : "failed");
  events::EmailOutcome o{"key_created", apikey, principal_id, to,
                         sent ? std::string() : sent.error().message};
  const auto type = sent ? events::EventType::email_sent : events::EventType::email_failed;
  // (A named vector: GCC 12 cannot take a braced list as a co_await argument.)
  std::vector<events::Draft> drafts{events::Draft{type, o, {}}};
  auto op = record(d_.commands, std::move(drafts), ctx);
  const auto recorded = co_await std::move(op);
  nlohmann::json email = {{"status", sent ? "sent" : "failed"}, {"to", to}};
  if (!sent) email["error"] = sent.error().message;
  if (!recorded) email["recorded"] = false;  // the outcome event could not be written
  co_return email;
}

void Api::notify_blocked_use(const events::RequestContext& ctx, const std::string& apikey,
                             const std::string& network, const std::string& to) const {
  const std::string slot = apikey + "|" + network;
  {
    std::lock_guard lock(notices_->mu);
    if (!notices_->in_flight.insert(slot).second) return;  // being sent now
  }
  const auto [principal_id, description] = d_.views.read([&](const projections::Views& v) {
    const auto* k = v.keys.find(apikey);
    return std::pair{v.principals.at(k->principal).id, k->description};
  });
  const std::string url = public_url_of(d_.config, d_.public_url);
  const std::string when = format_rfc3339_seconds(d_.clock.now());
  MailMessage m;
  m.to = to;
  m.subject = "latchkey: blocked use of your API key " + apikey;
  m.body = "Hello,\n\nYour API key " + apikey +
           (description.empty() ? std::string() : " (\"" + description + "\")") + " on " + url +
           " was used with its correct secret from " + ctx.source_ip +
           ", outside the networks the key is allowed to log in from. The login was refused.\n\n"
           "  Address: " +
           ctx.source_ip + " (network " + network + ")\n  Time:    " + when +
           "\n\n"
           "If this was not you, the secret key has leaked: delete or disable the key now "
           "(DELETE " +
           url + "/iam/me/keys/" + apikey +
           ") and create a new one.\n"
           "If it was you, an administrator can add the network to the key's allowed_cidrs "
           "(PATCH .../keys/" +
           apikey +
           ").\n\n"
           "You get one such email per key, network and day.\n";
  // The mailer is stopped before this Api goes; the writer, which runs the
  // record's callback, after it: that callback holds only shared state.
  d_.mailer->send(std::move(m), [this, ctx, apikey, principal_id = principal_id, network, to,
                                 slot](Status sent) {
    d_.metrics.email(sent ? "sent" : "failed");
    events::EmailOutcome o{
        "blocked_use", apikey, principal_id, to, sent ? std::string() : sent.error().message,
        network};
    const auto type = sent ? events::EventType::email_sent : events::EventType::email_failed;
    d_.commands.record(
        {events::Draft{type, std::move(o), {}}},
        events::RequestContext{"system", ctx.request_id, ctx.source_ip},
        [notices = notices_, log = d_.server_log,
         slot](Result<std::vector<events::Event>> recorded) {
          if (!recorded && log) {
            log->error("cannot record a blocked-use email", {{"detail", recorded.error().message}});
          }
          std::lock_guard lock(notices->mu);
          notices->in_flight.erase(slot);
        });
  });
}

}  // namespace latchkey::http
