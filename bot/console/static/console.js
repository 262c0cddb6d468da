// The console's live parts: queue refresh, the ticket page (new lines, pre-send
// check as you type, sending, lifecycle actions) and QA confirmations. Plain
// JavaScript, no build step. Every POST carries the session's CSRF token.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function api(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": CSRF }
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      if (response.status === 401) {
        window.location.href = window.location.pathname.split("/").slice(0, 2).join("/") +
          "/login?next=" + encodeURIComponent(window.location.pathname);
        throw new Error("请重新登录");
      }
      return response.json().catch(function () { return {}; }).then(function (data) {
        data._status = response.status;
        data._ok = response.ok;
        return data;
      });
    });
  }

  // Times read as the service centre reads them (Asia/Shanghai), whatever the
  // browser's own zone, so the page and the server-rendered lines agree.
  var TIME = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false
  });
  function localTime(iso) {
    return iso ? TIME.format(new Date(iso)) : "";
  }

  // -- reminders count in the navigation ---------------------------------------------------
  var bell = document.getElementById("nav-reminders");
  if (bell) {
    var refreshBell = function () {
      api("GET", bell.getAttribute("data-live")).then(function (data) {
        if (!data._ok) { return; }
        var count = document.getElementById("nav-reminders-count");
        count.textContent = data.unread ? String(data.unread) : "";
        count.hidden = !data.unread;
        bell.setAttribute("aria-label", data.unread ? "提醒（" + data.unread + " 条新提醒）" : "提醒");
      }).catch(function () {}).then(function () {
        window.setTimeout(refreshBell, document.hidden ? 60000 : 15000);
      });
    };
    window.setTimeout(refreshBell, 15000);
  }

  // -- queue ----------------------------------------------------------------------------
  var queue = document.getElementById("queue");
  if (queue) {
    var known = {};
    Array.prototype.forEach.call(queue.querySelectorAll("tr[data-ticket]"), function (row) {
      known[row.getAttribute("data-ticket")] = true;
    });
    var news = document.getElementById("queue-news");
    var refreshQueue = function () {
      api("GET", queue.getAttribute("data-live")).then(function (data) {
        if (!data._ok) { return; }
        document.getElementById("queue-rows").innerHTML = data.rows_html;
        var fresh = data.tickets.filter(function (n) { return !known[n]; });
        fresh.forEach(function (n) { known[n] = true; });
        if (fresh.length) { news.textContent = "新工单：" + fresh.join("、"); }
      }).catch(function () {}).then(function () {
        window.setTimeout(refreshQueue, document.hidden ? 20000 : 5000);
      });
    };
    window.setTimeout(refreshQueue, 5000);
  }

  // -- ticket page ------------------------------------------------------------------------
  var page = document.getElementById("ticket-page");
  if (!page) { return; }
  var base = page.getAttribute("data-api");
  var lastId = parseInt(page.getAttribute("data-last-id"), 10) || 0;
  var lastEvent = parseInt(page.getAttribute("data-last-event"), 10) || 0;
  var log = document.getElementById("log");
  var draft = document.getElementById("draft");
  var precheck = document.getElementById("precheck");
  var form = document.getElementById("draft-form");
  var sendButton = document.getElementById("send");
  var override = document.getElementById("override");
  var overrideReason = document.getElementById("override-reason");
  var useSuggestion = document.getElementById("use-suggestion");
  var actionStatus = document.getElementById("action-status");
  var promptedBy = null;
  var suggestion = null;
  var lastChecked = null;
  var scriptLabels = JSON.parse(page.getAttribute("data-script-labels") || "{}");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function say(kind, text) {
    actionStatus.className = "notice notice--" + kind;
    actionStatus.textContent = text;
  }

  function renderItem(item) {
    var li;
    if (item.kind === "event") {
      if (log.querySelector('[data-event-id="' + item.id + '"]')) { return; }
      li = el("li", "msg msg--event");
      li.setAttribute("data-event-id", item.id);
      li.appendChild(el("span", "msg__text", "— " + item.label + " · " + localTime(item.ts) + " —"));
    } else {
      if (log.querySelector('[data-message-id="' + item.id + '"]')) { return; }
      var customer = item.role === "customer";
      li = el("li", "msg msg--" + (customer ? "customer" : "agent"));
      li.setAttribute("data-message-id", item.id);
      var who = customer ? "客户" : (item.name || "客服") + (item.sender ? " · " + item.sender : "");
      var script = item.prompted_by ? " · " + (scriptLabels[item.prompted_by] || item.prompted_by) : "";
      li.appendChild(el("span", "msg__who", who + " · " + localTime(item.ts) + script));
      li.appendChild(el("span", "msg__text", item.text));
      // Images and files of the line (desk.js draws them).
      if (window.AftersalesDesk && item.attachments && item.attachments.length) {
        li.appendChild(window.AftersalesDesk.attachments(item.attachments));
      }
    }
    log.appendChild(li);
  }

  function applyActions(actions) {
    Object.keys(actions).forEach(function (name) {
      var key = name.replace(/_/g, "-");
      var buttons = document.querySelectorAll('#lifecycle [data-action="' + key + '"]' +
        (key === "extension" ? ', #lifecycle [data-action="extension-request"]' : ""));
      Array.prototype.forEach.call(buttons, function (button) {
        button.disabled = !actions[name].enabled;
        button.title = actions[name].enabled ? "" : (actions[name].hint || "");
      });
    });
    var hint = document.getElementById("remote-hint");
    if (hint) { hint.textContent = actions.remote.hint || ""; }
    // Why close / escalate / resolve are not possible yet, in one line under the buttons.
    var why = document.getElementById("lifecycle-hint");
    if (why) {
      why.textContent = ["resolve", "close", "escalate"].map(function (name) {
        return actions[name] && !actions[name].enabled && actions[name].hint;
      }).filter(Boolean).join("；");
    }
    Array.prototype.forEach.call(document.querySelectorAll(".action-form"), function (form) {
      var state = actions[form.getAttribute("data-key")];
      if (state) { form.querySelector("fieldset").disabled = !state.enabled; }
    });
  }

  // After an action the panels with forms are redrawn too; the timed refresh leaves
  // them alone, so nothing the engineer is ticking or typing is overwritten.
  function swap(id, html) {
    var node = document.getElementById(id);
    if (node && html) { node.outerHTML = html; }
  }

  function refresh(afterAction) {
    return api("GET", base + "/live?after=" + lastId + "&after_event=" + lastEvent).then(function (data) {
      if (!data._ok) { return; }
      var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
      data.items.forEach(function (item) {
        renderItem(item);
        if (item.kind === "event") { lastEvent = Math.max(lastEvent, item.id); }
        else { lastId = Math.max(lastId, item.id); }
      });
      if (data.items.length && nearBottom) { log.scrollTop = log.scrollHeight; }
      document.getElementById("ticket-status").textContent = data.status_label;
      document.getElementById("sla").innerHTML = data.sla_html;
      var warranty = document.getElementById("warranty-panel");
      if (warranty && data.warranty_html) { warranty.outerHTML = data.warranty_html; }
      swap("reminders-panel", data.reminders_html);
      if (afterAction) { swap("delivery-panel", data.delivery_html); }
      applyActions(data.actions);
    });
  }

  function schedule() {
    window.setTimeout(function () {
      refresh().catch(function () {}).then(schedule);
    }, document.hidden ? 10000 : 2000);
  }
  log.scrollTop = log.scrollHeight;
  schedule();

  // Script buttons fill the draft with this ticket's line; delegated, so the
  // drafts and the "/" menu that desk.js redraws live work the same way.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".scripts button[data-text]") : null;
    if (!button) { return; }
    draft.value = button.getAttribute("data-text");
    promptedBy = button.getAttribute("data-key") || null;
    draft.focus();
    check();
  });

  function showVerdict(result) {
    precheck.textContent = "";
    override.hidden = true;
    useSuggestion.hidden = true;
    suggestion = null;
    if (!result || result.verdict === "ok") {
      if (result && result.notes && result.notes.indexOf("backup_confirmation_required") >= 0) {
        precheck.appendChild(el("div", "notice notice--warn",
          "涉及远程操作：须先发送数据备份确认并等客户确认，发送时系统会先发出备份确认。"));
      } else if (draft.value.trim()) {
        precheck.appendChild(el("span", "muted", "✓ 未发现禁用语"));
      }
      return;
    }
    var box = el("div", "notice " + (result.verdict === "refused" ? "notice--error" : "notice--warn"));
    box.appendChild(el("strong", "", result.verdict === "refused" ? "不能发送：草稿包含禁用语" : "请注意：草稿有提醒项"));
    var shown = el("div", "precheck__text");
    var text = result.text;
    var cursor = 0;
    result.hits.forEach(function (hit) {
      if (hit.span[0] < cursor) { return; }
      shown.appendChild(document.createTextNode(text.slice(cursor, hit.span[0])));
      var mark = el("mark", "precheck__span", text.slice(hit.span[0], hit.span[1]));
      mark.title = hit.rule + "（" + (hit.layer_label || "") + " " + hit.phrase + "）";
      shown.appendChild(mark);
      cursor = hit.span[1];
    });
    shown.appendChild(document.createTextNode(text.slice(cursor)));
    box.appendChild(shown);
    var list = el("ul", "small");
    result.hits.forEach(function (hit) {
      var level = hit.severity === "error" ? "禁止" : "提醒";
      var caught = hit.layer_label ? "（" + hit.layer_label + "，置信度 " + Number(hit.confidence).toFixed(2) + "）" : "";
      list.appendChild(el("li", "", level + " · " + hit.rule + " " + (hit.title || "") + "：“" + hit.evidence + "”" + caught));
    });
    box.appendChild(list);
    if (result.suggestion) {
      suggestion = result.suggestion;
      box.appendChild(el("span", "precheck__suggestion", "合规建议：" + result.suggestion));
      useSuggestion.hidden = false;
    }
    precheck.appendChild(box);
    if (result.verdict === "confirm") { override.hidden = false; }
  }

  var timer = null;
  function check() {
    var text = draft.value;
    if (text === lastChecked) { return; }
    lastChecked = text;
    if (!text.trim()) { showVerdict(null); return; }
    api("POST", base + "/presend", { text: text }).then(function (data) {
      if (draft.value === text && data._ok) { showVerdict(data); }
    }).catch(function () {});
  }
  draft.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 250);
  });
  draft.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  useSuggestion.addEventListener("click", function () {
    if (suggestion) {
      draft.value = suggestion;
      promptedBy = null;
      draft.focus();
      check();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = draft.value.trim();
    if (!text) { return; }
    var body = { text: text };
    if (promptedBy) { body.prompted_by = promptedBy; }
    if (!override.hidden && overrideReason.value.trim()) { body.override_reason = overrideReason.value.trim(); }
    sendButton.disabled = true;
    api("POST", base + "/messages", body).then(function (data) {
      if (data._ok) {
        draft.value = "";
        promptedBy = null;
        overrideReason.value = "";
        lastChecked = null;
        showVerdict(null);
        say("ok", "已发送");
      } else if (data.presend && (data._status === 422 || data.error === "presend_confirmation_required")) {
        showVerdict(data.presend);
        say("error", data.message);
      } else {
        say(data.error === "backup_confirmation_required" ? "warn" : "error", data.message || "发送失败");
      }
      return refresh();
    }).catch(function (error) { say("error", error.message); })
      .then(function () { sendButton.disabled = false; });
  });

  // -- lifecycle actions ----------------------------------------------------------------
  var dialog = document.getElementById("action-dialog");
  var dialogInput = document.getElementById("action-dialog-input");
  var dialogLabel = document.getElementById("action-dialog-label");
  var pending = null;

  function runAction(button, body) {
    var name = button.getAttribute("data-action");
    button.disabled = true;
    say("ok", "处理中…");
    api("POST", base + "/" + name, body || {}).then(function (data) {
      if (data._ok) {
        say("ok", button.textContent + "：已完成");
      } else {
        say(data._status === 409 ? "warn" : "error", data.message || "操作失败");
      }
      return refresh(true);
    }).catch(function (error) { say("error", error.message); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("#lifecycle [data-action]"), function (button) {
    button.addEventListener("click", function () {
      var field = button.getAttribute("data-field");
      var formName = button.getAttribute("data-form");
      if (formName) {
        // An action with a record to fill in (closing: the solution record) opens its form.
        var target = document.querySelector('.action-form[data-action="' + formName + '"]');
        if (target) {
          target.closest("details").open = true;
          target.scrollIntoView({ block: "center" });
          var first = target.querySelector("[data-field]");
          if (first) { first.focus(); }
          return;
        }
      }
      if (!field) { runAction(button); return; }
      pending = button;
      dialogLabel.textContent = button.getAttribute("data-prompt");
      dialogInput.value = "";
      dialog.showModal();
      dialogInput.focus();
    });
  });
  document.getElementById("action-dialog-cancel").addEventListener("click", function () {
    pending = null;
    dialog.close();
  });
  document.getElementById("action-dialog-form").addEventListener("submit", function () {
    var value = dialogInput.value.trim();
    if (!pending || !value) { return; }
    var body = {};
    body[pending.getAttribute("data-field")] = value;
    runAction(pending, body);
    pending = null;
  });

  // Forms built from an action's body model: each field says how to read it.
  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.querySelectorAll("[data-field]"), function (field) {
      var name = field.getAttribute("data-field");
      var widget = field.getAttribute("data-widget");
      if (widget === "checkboxes") {
        body[name] = Array.prototype.map.call(
          field.querySelectorAll("input:checked"), function (box) { return box.value; });
      } else if (widget === "checkbox") {
        body[name] = field.checked;
      } else if (widget === "tristate") {
        if (field.value) { body[name] = field.value === "true"; }
      } else if (widget === "number") {
        if (field.value.trim()) { body[name] = parseFloat(field.value); }
      } else if (field.value.trim()) {
        body[name] = field.value.trim();
      }
    });
    return body;
  }

  // Delegated: the delivery panel's forms are redrawn after each action.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest(".action-form") : null;
    if (!form) { return; }
    event.preventDefault();
    var title = form.querySelector("legend").textContent.trim();
    say("ok", "处理中…");
    api("POST", base + "/" + form.getAttribute("data-action"), formBody(form)).then(function (data) {
      if (data._ok) {
        say("ok", title + "：已完成");
        form.reset();
      } else {
        say(data._status === 409 ? "warn" : "error", data.message || "操作失败");
      }
      return refresh(true);
    }).catch(function (error) { say("error", error.message); });
  });

  var reassign = document.getElementById("reassign-form");
  if (reassign) {
    reassign.addEventListener("submit", function (event) {
      event.preventDefault();
      var to = document.getElementById("reassign-to").value;
      api("POST", base + "/reassign", { to: to }).then(function (data) {
        if (data._ok) { window.location.reload(); }
        else { say("error", data.message || "改派失败"); }
      });
    });
  }
})();
