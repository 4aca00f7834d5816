// Service worker of the push opt-in page: shows each notification and opens its link when clicked.
self.addEventListener("push", (event) => {
  let message = {};
  try { message = event.data ? event.data.json() : {}; } catch (e) { message = { body: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(message.title || "Message", {
    body: message.body || "",
    data: { url: message.url || null },
    tag: message.message_id ? "m" + message.message_id : undefined,
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  if (url) event.waitUntil(self.clients.openWindow(url));
});
