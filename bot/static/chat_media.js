// The customer's images and files in the web chat: an upload button next to the
// message box (multipart to /chat/api/uploads, one client id per file, reused on
// retry) and the drawing of attachments in the log (images inline, files as
// links, pending downloads as a note). Plain JavaScript; loaded before chat.js.
(function () {
  "use strict";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  window.ChatMedia = {
    draw: function (list, visitor) {
      var box = el("span", "attachments");
      list.forEach(function (a) {
        var url = a.url ? a.url + "?visitor=" + encodeURIComponent(visitor || "") : null;
        var node;
        if (a.is_image && url) {
          node = el("a", "attachment attachment--image");
          node.href = url; node.target = "_blank"; node.rel = "noopener";
          var img = el("img");
          img.src = url; img.alt = a.kind_label + " " + (a.filename || "");
          node.appendChild(img);
        } else if (url) {
          node = el("a", "attachment attachment--file", a.kind_label + "：" + (a.filename || "下载"));
          node.href = url; node.setAttribute("download", "");
        } else {
          node = el("span", "attachment", a.kind_label + "：" + a.status_label);
        }
        box.appendChild(node);
      });
      return box;
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("chat");
    var row = document.querySelector(".chat__row");
    if (!root || !row) { return; }
    var api = root.dataset.api;
    var input = el("input");
    input.type = "file";
    input.id = "chat-file";
    input.className = "visually-hidden";
    input.accept = "image/*,.pdf,.txt,.zip,.doc,.docx,.xls,.xlsx";
    var label = el("label", "chat__attach", "图片/文件");
    label.htmlFor = "chat-file";
    label.title = "发送图片或文件";
    row.insertBefore(label, row.firstChild);
    row.insertBefore(input, label);

    input.addEventListener("change", function () {
      var chat = window.AftersalesChat;
      if (!input.files.length || !chat || !chat.visitor()) { return; }
      var file = input.files[0];
      var form = new FormData();
      form.append("visitor", chat.visitor());
      form.append("client_id", chat.randomId());
      form.append("file", file);
      chat.setStatus("正在发送 " + file.name + "…");
      fetch(api + "/uploads", { method: "POST", body: form, headers: { "Accept": "application/json" } })
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (data) {
            if (!response.ok) { throw new Error(data.message || "发送失败"); }
            chat.render(data.message);
            data.replies.forEach(chat.render);
            chat.setStatus("");
          });
        })
        .catch(function (error) { chat.setStatus("未能发送：" + error.message); })
        .then(function () { input.value = ""; });
    });
  });
})();
