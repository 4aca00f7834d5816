// The push opt-in page: "Allow" asks the browser for permission, subscribes with the VAPID key and
// sends the subscription; "Don't allow" records the refusal.
(function () {
  "use strict";
  const root = document.getElementById("push-optin");
  if (!root) return;
  const token = root.dataset.token;
  const key = root.dataset.key;
  const result = document.getElementById("push-result");
  const say = (text) => { result.textContent = text; };

  function keyBytes(base64url) {
    const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - base64url.length % 4) % 4);
    const raw = atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
  }

  async function allow() {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      say("This browser cannot receive notifications.");
      return;
    }
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      await refuse();
      return;
    }
    const registration = await navigator.serviceWorker.register("/push/sw.js");
    await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(key),
    });
    await post("/api/v1/notify/push/" + encodeURIComponent(token) + "/subscriptions", subscription.toJSON());
    say("Thank you: notifications are on.");
  }

  async function refuse() {
    await post("/api/v1/notify/push/" + encodeURIComponent(token) + "/refusal");
    say("Understood: we will not send you notifications.");
  }

  const allowButton = document.getElementById("push-allow");
  const refuseButton = document.getElementById("push-refuse");
  if (allowButton) allowButton.addEventListener("click", () => allow().catch((e) => say("That did not work: " + e.message)));
  if (refuseButton) refuseButton.addEventListener("click", () => refuse().catch((e) => say("That did not work: " + e.message)));
})();
