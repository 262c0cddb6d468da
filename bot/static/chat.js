// The customer web chat: send with a client id (so a retry is never a second
// message), poll for new lines. Plain JavaScript, no build step.
(function () {
  "use strict";

  var root = document.getElementById("chat");
  var api = root.dataset.api;
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var button = document.getElementById("chat-send");
  var statusLine = document.getElementById("chat-status");
  var STORE_KEY = "aftersales.visitor";
  var POLL_MS = 2000;
  var visitor = null;
  var lastId = 0;
  var shown = {};
  var pollTimer = null;

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function setStatus(text) {
    statusLine.textContent = text || "";
  }

  function request(method, path, body) {
    var options = { method: method, headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(api + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || ("HTTP " + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function render(message) {
    var pending = message.client_id && document.getElementById("pending-" + message.client_id);
    if (message.id && shown[message.id]) {
      if (pending) { pending.remove(); }
      return;
    }
    var item = pending || document.createElement("li");
    item.removeAttribute("id");
    item.className = "msg msg--" + (message.role === "customer" ? "customer" : "agent") +
      (message.role === "system" ? " msg--system" : "");
    item.textContent = "";
    var who = document.createElement("span");
    who.className = "msg__who";
    who.textContent = message.role === "customer" ? "我" : (message.name || "客服");
    if (message.role === "system") { who.textContent = message.name || "服务中心"; }
    var text = document.createElement("span");
    text.className = "msg__text";
    text.textContent = message.text;
    item.appendChild(who);
    if (message.ts) { who.appendChild(stamp(message.ts)); }
    item.appendChild(text);
    // Images and files (chat_media.js draws them).
    if (window.ChatMedia && message.attachments && message.attachments.length) {
      item.appendChild(window.ChatMedia.draw(message.attachments, visitor));
    }
    if (!pending) { log.appendChild(item); }
    if (message.id) {
      shown[message.id] = true;
      lastId = Math.max(lastId, message.id);
    }
    log.scrollTop = log.scrollHeight;
  }

  // When a line was written, in the reader's own clock: 10:05 today, 11-23 10:05 before.
  function stamp(iso) {
    var when = new Date(iso);
    var time = document.createElement("time");
    time.className = "msg__time";
    time.dateTime = iso;
    if (isNaN(when.getTime())) { return time; }
    var pad = function (n) { return ("0" + n).slice(-2); };
    var clock = pad(when.getHours()) + ":" + pad(when.getMinutes());
    var today = new Date();
    var sameDay = when.toDateString() === today.toDateString();
    time.textContent = " " + (sameDay ? clock : pad(when.getMonth() + 1) + "-" + pad(when.getDate()) + " " + clock);
    return time;
  }

  function showPending(clientId, text) {
    var item = document.createElement("li");
    item.id = "pending-" + clientId;
    item.className = "msg msg--customer msg--pending";
    var body = document.createElement("span");
    body.className = "msg__text";
    body.textContent = text;
    item.appendChild(body);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function poll() {
    if (!visitor) { return; }
    request("GET", "/messages?visitor=" + encodeURIComponent(visitor) + "&after=" + lastId)
      .then(function (data) {
        data.messages.forEach(render);
        setStatus("");
      })
      .catch(function () { setStatus("网络不稳定，正在重新连接…"); })
      .then(schedulePoll);
  }

  function schedulePoll() {
    window.clearTimeout(pollTimer);
    pollTimer = window.setTimeout(poll, document.hidden ? POLL_MS * 5 : POLL_MS);
  }

  // Same client id on every attempt: the server keeps the first, ignores repeats.
  function send(text, clientId, attempt) {
    return request("POST", "/messages", { visitor: visitor, client_id: clientId, text: text })
      .then(function (data) {
        render(data.message);
        data.replies.forEach(render);
        setStatus("");
      })
      .catch(function (error) {
        if (error.status && error.status < 500) { throw error; }
        if (attempt >= 4) { throw error; }
        setStatus("发送失败，正在重试…");
        return new Promise(function (resolve) {
          window.setTimeout(resolve, 1000 * Math.pow(2, attempt));
        }).then(function () { return send(text, clientId, attempt + 1); });
      });
  }

  // For chat_media.js: the visitor id and the same rendering as typed lines.
  window.AftersalesChat = {
    visitor: function () { return visitor; },
    render: render,
    randomId: randomId,
    setStatus: setStatus
  };

  function start() {
    visitor = window.localStorage.getItem(STORE_KEY);
    var ready = visitor
      ? Promise.resolve()
      : request("POST", "/visitors", {}).then(function (data) {
          visitor = data.visitor;
          window.localStorage.setItem(STORE_KEY, visitor);
        });
    ready.then(poll).catch(function () { setStatus("暂时无法连接在线客服，请稍后再试或拨打服务热线。"); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || !visitor) { return; }
    var clientId = randomId();
    button.disabled = true;
    showPending(clientId, text);
    input.value = "";
    send(text, clientId, 0)
      .catch(function (error) {
        setStatus("消息未能发送：" + error.message);
        var pending = document.getElementById("pending-" + clientId);
        if (pending) { pending.remove(); }
        input.value = text;
      })
      .then(function () {
        button.disabled = false;
        input.focus();
      });
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { poll(); }
  });

  start();
})();
