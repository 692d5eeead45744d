// The login page: the form posts the token to the server (it works without scripts);
// this script only translates the page and says why the operator is here again
// (?error=1 a refused token, ?expired=1 a lost session, ?logout=1 after leaving).

import { preferredLanguage, setLanguage, translate, t } from "./lib/i18n.js";

const reasons = new URLSearchParams(location.search);

function show() {
  const input = document.getElementById("token");
  const error = document.getElementById("login-error");
  if (reasons.has("error")) {
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "token-hint login-error-text");
  }
  const notice = document.getElementById("login-notice");
  const noticeText = reasons.has("expired") ? t("login.expired") : reasons.has("logout") ? t("login.loggedOut") : "";
  notice.hidden = !noticeText;
  document.getElementById("login-notice-text").textContent = noticeText;
  document.title = `${t("login.title")} · ${t("app.title")}`;
  for (const button of document.querySelectorAll("#language-switch button[data-language]")) {
    button.setAttribute("aria-pressed", String(button.dataset.language === document.documentElement.lang));
  }
}

async function start() {
  await setLanguage(preferredLanguage());
  translate(document);
  show();
  for (const button of document.querySelectorAll("#language-switch button[data-language]")) {
    button.addEventListener("click", async () => {
      await setLanguage(button.dataset.language, true);
      translate(document);
      show();
    });
  }
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  // After a refused token the field is where the operator goes next.
  if (reasons.has("error")) document.getElementById("token").focus();
}

start().catch((error) => console.warn(error));
