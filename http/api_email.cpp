// The email that carries a new key to its owner (send_email: true).
#include <nlohmann/json.hpp>

#include "http/api.h"

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

void Api::send_key_email(const Request&, const events::RequestContext& ctx, const std::string& to,
                         const std::string& apikey, const std::string& secretkey, Micros expires_at,
                         std::function<void(nlohmann::json)> done) const {
  const std::string url = public_url_of(d_.config);
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
  const std::string principal_id = d_.views.read([&](const projections::Views& v) {
    const auto* k = v.keys.find(apikey);
    return k ? v.principals.at(k->principal).id : std::string();
  });
  d_.mailer->send(std::move(m), [this, ctx, to, apikey, principal_id,
                                 done = std::move(done)](Status st) {
    events::EmailOutcome o{"key_created", apikey, principal_id, to,
                           st ? std::string() : st.error().message};
    d_.metrics.email(st ? "sent" : "failed");
    const auto type = st ? events::EventType::email_sent : events::EventType::email_failed;
    d_.commands.record({events::Draft{type, o, {}}}, ctx,
                       [this, st, to, done](Result<std::vector<events::Event>> r) {
                         d_.post([st, to, done, recorded = r.has_value()] {
                           nlohmann::json email = {{"status", st ? "sent" : "failed"}, {"to", to}};
                           if (!st) email["error"] = st.error().message;
                           if (!recorded)
                             email["recorded"] = false;  // the outcome event could not be written
                           done(std::move(email));
                         });
                       });
  });
}

}  // namespace latchkey::http
