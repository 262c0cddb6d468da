// The live desk (bot.console.desk): notifications (title badge, sound, the
// browser's Notification API once allowed), unread counts in the queue, the
// customer-waiting countdown, drafts refreshed and withdrawn live, the "/"
// canned-reply menu, keyboard shortcuts, internal notes and tags, sending an
// image or file. The database is the source of truth: the page polls it, so
// several serve processes behind one address agree. Plain JavaScript.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var desk = window.AftersalesDesk = { alerts: [] };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function request(method, url, body) {
    var options = { method: method, credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRF-Token": CSRF } };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        data._ok = response.ok;
        data._status = response.status;
        return data;
      });
    });
  }

  // -- attachments (also used by console.js for live lines) ------------------------
  desk.attachments = function (list) {
    var box = el("span", "attachments");
    list.forEach(function (a) {
      var node;
      if (a.is_image) {
        node = el("a", "attachment attachment--image");
        node.href = a.url; node.target = "_blank"; node.rel = "noopener";
        var img = el("img");
        img.src = a.url; img.alt = a.kind_label + " " + (a.filename || ""); img.loading = "lazy";
        node.appendChild(img);
      } else if (a.url) {
        node = el("a", "attachment attachment--file", a.kind_label + "：" + (a.filename || "下载"));
        node.href = a.url; node.setAttribute("download", "");
      } else {
        node = el("span", "attachment attachment--" + a.status,
          a.kind_label + (a.filename ? " " + a.filename : "") + "：" + a.status_label);
      }
      box.appendChild(node);
    });
    return box;
  };

  // -- alerts: sound, desktop notification, title badge ------------------------------
  var baseTitle = document.title;
  var audio = null;
  function alertsOn() { return window.localStorage && localStorage.getItem("desk-alerts") === "on"; }
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      audio = audio || new Ctx();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.15);
    } catch (e) { /* no sound is not an error */ }
  }
  function notify(text, url) {
    desk.alerts.push({ text: text, url: url || null });
    if (!alertsOn()) { return; }
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        var n = new Notification("工作台提醒", { body: text, tag: url || "desk" });
        n.onclick = function () { window.focus(); if (url) { window.location.href = url; } };
      } catch (e) { /* some browsers allow notifications only from a service worker */ }
    }
  }
  function badge(count) {
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  function alertsButton(where) {
    if (!where) { return; }
    var button = el("button", "secondary desk-alerts", alertsOn() ? "提醒：已开启" : "开启声音和桌面提醒");
    button.type = "button";
    button.id = "desk-alerts";
    button.setAttribute("aria-pressed", alertsOn() ? "true" : "false");
    button.addEventListener("click", function () {
      var on = !alertsOn();
      localStorage.setItem("desk-alerts", on ? "on" : "off");
      button.textContent = on ? "提醒：已开启" : "开启声音和桌面提醒";
      button.setAttribute("aria-pressed", on ? "true" : "false");
      if (on) {
        beep();
        if ("Notification" in window && Notification.permission === "default") {
          Notification.requestPermission();
        }
      }
    });
    where.appendChild(button);
  }

  // -- the customer-waiting countdown ---------------------------------------------------
  function human(seconds) {
    var total = Math.floor(Math.abs(seconds));
    var days = Math.floor(total / 86400), hours = Math.floor(total % 86400 / 3600);
    var minutes = Math.floor(total % 3600 / 60), secs = total % 60;
    if (days) { return hours ? days + "天" + hours + "小时" : days + "天"; }
    if (hours) { return minutes ? hours + "小时" + minutes + "分" : hours + "小时"; }
    if (minutes) { return secs && minutes < 5 ? minutes + "分" + secs + "秒" : minutes + "分钟"; }
    return secs + "秒";
  }
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll(".waiting[data-left]"), function (node) {
      if (!node._seenAt) {
        node._seenAt = Date.now();
        node._left = parseFloat(node.getAttribute("data-left"));
      }
      var left = node._left - (Date.now() - node._seenAt) / 1000;
      var text = node.querySelector(".waiting__left");
      if (text) { text.textContent = left < 0 ? "已超时 " + human(left) : "剩余 " + human(left); }
      node.classList.toggle("sla--breached", left < 0);
      node.classList.toggle("sla--soon", left >= 0);
      node.setAttribute("data-breached", left < 0 ? "true" : "false");
    });
  }
  window.setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);

  // -- queue ------------------------------------------------------------------------
  function unreadTotal() {
    var total = 0;
    Array.prototype.forEach.call(document.querySelectorAll("#queue-rows [data-unread]"), function (node) {
      total += parseInt(node.getAttribute("data-unread"), 10) || 0;
    });
    return total;
  }
  function setupQueue(rows) {
    alertsButton(document.querySelector("main h1"));
    var before = unreadTotal();
    badge(before);
    tick();
    new MutationObserver(function () {
      var now = unreadTotal();
      if (now > before) { notify("有 " + (now - before) + " 条新的客户消息"); }
      before = now;
      badge(now);
      labelTables();
      tick();
    }).observe(rows, { childList: true });
  }

  // -- ticket page --------------------------------------------------------------------------
  function setupTicket(page) {
    var base = page.getAttribute("data-api");
    var draft = document.getElementById("draft");
    var drafts = document.getElementById("drafts");
    var waiting = document.getElementById("waiting");
    var tags = document.getElementById("tags");
    var notes = document.getElementById("notes");
    var lastCustomer = null;
    var elsewhere = null;
    var missed = 0;
    var draftKeys = "";
    alertsButton(page.querySelector("h1"));

    function renderDrafts(list) {
      var keys = list.map(function (d) { return d.key + "\u0000" + d.text; }).join("\u0001");
      if (keys === draftKeys) { return; }
      draftKeys = keys;
      drafts.textContent = "";
      list.forEach(function (d, i) {
        var button = el("button", "secondary is-due", "建议：" + d.label);
        button.type = "button";
        button.setAttribute("data-key", d.key);
        button.setAttribute("data-text", d.text);
        button.title = "Alt+" + (i + 1);
        drafts.appendChild(button);
      });
    }
    function renderWaiting(w) {
      waiting.textContent = "";
      if (!w) { waiting.appendChild(el("span", "sla sla--done", "客户无待回复消息")); return; }
      var node = el("span", "sla waiting " + (w.breached ? "sla--breached" : "sla--soon"), w.label + "：");
      node.setAttribute("data-left", w.left_s);
      node.setAttribute("data-deadline", w.deadline);
      node.title = w.rule + " 回复时限 " + w.limit_s + " 秒";
      node.appendChild(el("span", "waiting__left", w.text));
      waiting.appendChild(node);
    }
    function renderTags(list) {
      tags.textContent = "";
      if (!list.length) { tags.appendChild(el("span", "muted small", "无")); }
      list.forEach(function (tag) {
        var chip = el("span", "tag", tag + " ");
        var remove = el("button", "tag__remove", "×");
        remove.type = "button";
        remove.setAttribute("data-tag", tag);
        remove.setAttribute("aria-label", "移除标签 " + tag);
        chip.appendChild(remove);
        tags.appendChild(chip);
      });
    }
    var TIME = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
    function renderNotes(list) {
      if (notes.children.length === list.length) { return; }
      notes.textContent = "";
      list.forEach(function (n) {
        var li = el("li");
        li.appendChild(el("span", "notes__who", (n.author_name || n.author) + " · " + TIME.format(new Date(n.ts))));
        li.appendChild(document.createTextNode(" " + n.text));
        notes.appendChild(li);
      });
    }

    function poll() {
      return request("GET", base + "/desk").then(function (data) {
        if (!data._ok) { return; }
        renderDrafts(data.drafts || []);
        renderWaiting(data.waiting);
        renderTags(data.tags || []);
        renderNotes(data.notes || []);
        if (lastCustomer !== null && data.last_customer_id > lastCustomer) {
          if (document.hidden || !document.hasFocus()) { missed += 1; }
          notify("客户有新消息：" + page.getAttribute("data-number"), window.location.pathname);
        }
        var others = data.unread_elsewhere || 0;
        if (elsewhere !== null && others > elsewhere) {
          notify("其他工单有 " + (others - elsewhere) + " 条新的客户消息", base.replace(/\/api\/tickets\/.*$/, "/queue"));
        }
        elsewhere = others;
        badge(missed + others);
        lastCustomer = data.last_customer_id;
        tick();
      });
    }
    function schedule() {
      window.setTimeout(function () { poll().catch(function () {}).then(schedule); }, document.hidden ? 10000 : 2000);
    }
    poll().catch(function () {}).then(schedule);
    function seen() { missed = 0; badge(elsewhere || 0); }
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { seen(); } });
    window.addEventListener("focus", seen);

    // Tags and notes.
    document.getElementById("tag-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = document.getElementById("tag-input");
      var tag = input.value.trim();
      if (!tag) { return; }
      request("POST", base + "/tags", { tag: tag }).then(function (data) {
        if (data._ok) { input.value = ""; renderTags(data.tags); }
        else { input.setCustomValidity(data.message || "未能添加"); input.reportValidity(); input.setCustomValidity(""); }
      });
    });
    tags.addEventListener("click", function (event) {
      var button = event.target.closest("[data-tag]");
      if (!button) { return; }
      request("POST", base + "/tags/remove", { tag: button.getAttribute("data-tag") }).then(function (data) {
        if (data._ok) { renderTags(data.tags); }
      });
    });
    document.getElementById("note-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = document.getElementById("note-input");
      var status = document.getElementById("note-status");
      var text = input.value.trim();
      if (!text) { return; }
      request("POST", base + "/notes", { text: text }).then(function (data) {
        if (data._ok) { input.value = ""; status.textContent = "备注已保存（客户看不到）"; notes.textContent = ""; renderNotes(data.notes); }
        else { status.textContent = data.message || "保存失败"; }
      });
    });

    // Sending an image or file.
    var attach = document.getElementById("attach-input");
    var attachStatus = document.getElementById("attach-status");
    attach.addEventListener("change", function () {
      if (!attach.files.length) { return; }
      var form = new FormData();
      form.append("file", attach.files[0]);
      attachStatus.textContent = "正在发送…";
      request("POST", base + "/attachments", form).then(function (data) {
        if (data._ok) {
          attachStatus.textContent = data.delivery.status === "sent" ? "已发送" : "已保存，发送结果：" + (data.delivery.detail || data.delivery.status);
        } else {
          attachStatus.textContent = data.message || "发送失败";
        }
        attach.value = "";
      }).catch(function (error) { attachStatus.textContent = error.message; });
    });

    // The "/" menu: this ticket's script lines first, then the common replies.
    var canned = document.getElementById("canned");
    var list = document.getElementById("canned-list");
    var items = null;
    var shown = [];
    var active = 0;
    function loadItems() {
      if (items) { return Promise.resolve(items); }
      return request("GET", base + "/canned").then(function (data) { items = data.items || []; return items; });
    }
    function closeMenu() { canned.hidden = true; shown = []; }
    function drawMenu() {
      list.textContent = "";
      shown.forEach(function (item, i) {
        var button = el("button", "secondary" + (i === active ? " is-active" : ""),
          (item.source === "script" ? "话术 · " + item.label + "：" : "") + item.text);
        button.type = "button";
        button.setAttribute("role", "option");
        button.setAttribute("aria-selected", i === active ? "true" : "false");
        button.setAttribute("data-text", item.text);
        if (item.key) { button.setAttribute("data-key", item.key); }
        list.appendChild(button);
      });
      canned.hidden = shown.length === 0;
    }
    function openMenu(query) {
      loadItems().then(function (all) {
        if (draft.value.charAt(0) !== "/") { return; }
        var q = query.trim().toLowerCase();
        shown = all.filter(function (item) {
          return !q || (item.label + " " + item.text).toLowerCase().indexOf(q) >= 0;
        }).slice(0, 8);
        active = 0;
        drawMenu();
      });
    }
    draft.addEventListener("input", function () {
      if (draft.value.charAt(0) === "/") { openMenu(draft.value.slice(1)); } else { closeMenu(); }
    });
    draft.addEventListener("keydown", function (event) {
      if (canned.hidden || !shown.length) { return; }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
        drawMenu();
      } else if ((event.key === "Enter" || event.key === "Tab") && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        list.children[active].click();
        closeMenu();
      } else if (event.key === "Escape") {
        event.preventDefault();
        closeMenu();
      }
    });
    list.addEventListener("click", function () { window.setTimeout(closeMenu, 0); });

    // Keyboard shortcuts (listed on the page, 键盘快捷键).
    document.addEventListener("keydown", function (event) {
      var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
      if (event.altKey && !event.ctrlKey && !event.metaKey) {
        var code = event.code || "";
        if (code === "KeyR") { event.preventDefault(); draft.focus(); }
        else if (code === "KeyN") { event.preventDefault(); document.getElementById("note-input").focus(); }
        else if (code === "KeyU") { event.preventDefault(); attach.click(); }
        else if (code === "KeyQ") { event.preventDefault(); window.location.href = base.replace(/\/api\/tickets\/.*$/, "/queue"); }
        else if (/^Digit[1-9]$/.test(code)) {
          var button = drafts.querySelectorAll("button[data-text]")[parseInt(code.slice(5), 10) - 1];
          if (button) { event.preventDefault(); button.click(); }
        }
      } else if (event.key === "?" && !typing) {
        var help = document.getElementById("shortcuts");
        help.open = !help.open;
        if (help.open) { help.querySelector("summary").focus(); }
      }
    });
  }

  // -- tables on a phone: each cell labelled with its column's header ----------------
  // (desk.css shows the label before the cell when the rows stack as cards).
  function labelTables() {
    Array.prototype.forEach.call(document.querySelectorAll(".table-wrap table"), function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      if (!heads.length) { return; }
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
        var column = 0;
        Array.prototype.forEach.call(tr.children, function (cell) {
          var span = parseInt(cell.getAttribute("colspan") || "1", 10);
          if (cell.tagName === "TD" && span === 1 && heads[column] && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", heads[column]);
          }
          column += span;
        });
      });
    });
  }
  desk.labelTables = labelTables;

  document.addEventListener("DOMContentLoaded", function () {
    labelTables();
    var rows = document.getElementById("queue-rows");
    if (rows) { setupQueue(rows); }
    var page = document.getElementById("ticket-page");
    if (page) { setupTicket(page); }
  });
})();
