/* agent-server chat widget: one <script src=".../api/widget/ID/script.js" async></script> tag.
 * Renders a chat bubble and panel in a shadow root (so the host page's CSS can't break it),
 * talks to the agent over a websocket, shows the answer as it streams, and after a drop
 * reconnects with backoff and resumes the conversation by its id. A form the server offers
 * (a keyword in the visitor's message) is drawn with textContent only and posted to
 * /api/forms/submit; its errors are shown beside each field.
 * Loaded as ".../api/chat/inline/ID.js" with data-target="#element", the same chat renders
 * inside that element, open, with no bubble. data-auto-open="1" (or ?autoOpen=1 on the
 * script's URL) opens the bubble's panel on load. The first six FAQ questions are one-tap
 * buttons; with formatting "markdown" a finished reply is rendered from a safe subset
 * (bold, italics, code, http(s) links, lists), built as DOM nodes, never as HTML.
 * With voiceEnabled a mic button calls the agent from the browser (voice.js, loaded beside this
 * script as script.js?part=voice); with messengerEnabled the bubble's header links to the hosted page (/m/ID), the same
 * chat on a page of its own (a phone's full screen, a tab that outlives this one). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var src = new URL(script.src);
  var match = src.pathname.match(/\/api\/widget\/([^/]+)\/script\.js$/) ||
    src.pathname.match(/\/api\/chat\/inline\/([^/]+)\.js$/);
  if (!match) return;
  var chatbotId = match[1];
  var inline = /\/api\/chat\/inline\//.test(src.pathname);
  var target = inline ? document.querySelector(script.getAttribute("data-target") || "") : null;
  if (inline && !target) return;
  var autoOpen = script.getAttribute("data-auto-open") === "1" || src.searchParams.get("autoOpen") === "1";
  var FAQ_BUTTONS = 6;
  var apiBase = src.origin + "/api/widget/" + encodeURIComponent(chatbotId);
  var submitUrl = src.origin + "/api/forms/submit";
  var INPUT_TYPES = { email: "email", phone: "tel", number: "number", date: "date", checkbox: "checkbox" };
  var socketBase = apiBase.replace(/^http/, "ws") + "/ws";
  var storageKey = "agentWidget:" + chatbotId;
  var COLOR = /^#[0-9a-fA-F]{3,8}$/;

  var ws = null;
  var attempt = 0;
  var reconnectTimer = null;
  var current = null;
  var outbox = [];
  var ui = null;

  function stored() {
    try { return window.localStorage.getItem(storageKey); } catch (e) { return null; }
  }
  function store(id) {
    try {
      if (id) window.localStorage.setItem(storageKey, id); else window.localStorage.removeItem(storageKey);
    } catch (e) { /* storage disabled: the conversation lasts as long as the page */ }
  }

  function color(value, fallback) { return COLOR.test(value || "") ? value : fallback; }

  function build(config) {
    var theme = config.theme || {};
    var primary = color(theme.primaryColor, "#2563eb");
    var text = color(theme.textColor, "#ffffff");
    var side = /left$/.test(theme.position || "") ? "left" : "right";
    var host = document.createElement("div");
    host.id = inline ? "agent-server-inline" : "agent-server-widget";
    if (inline) { host.style.display = "block"; host.style.height = "100%"; }
    (inline ? target : document.body).appendChild(host);
    var placement = inline
      ? ".panel{position:relative;width:100%;height:100%;min-height:320px;"
      : ".panel{position:fixed;bottom:88px;" + side + ":20px;width:340px;max-width:calc(100vw - 40px);height:460px;" +
        "max-height:calc(100vh - 120px);";
    var root = host.attachShadow({ mode: "open" });
    root.innerHTML =
      "<style>" +
      ":host{all:initial}" +
      ".launcher{position:fixed;bottom:20px;" + side + ":20px;width:56px;height:56px;border-radius:50%;border:0;" +
      "background:" + primary + ";color:" + text + ";display:flex;align-items:center;justify-content:center;cursor:pointer;box-shadow:0 4px 12px rgba(0,0,0,.25);z-index:2147483646}" +
      placement + "display:flex;flex-direction:column;background:#fff;border-radius:12px;" +
      "box-shadow:0 8px 24px rgba(0,0,0,.25);font:14px/1.4 system-ui,sans-serif;color:#111;z-index:2147483647;overflow:hidden}" +
      ".panel[hidden]{display:none}" +
      "header{background:" + primary + ";color:" + text + ";padding:10px 12px;font-weight:600;display:flex;justify-content:space-between}" +
      "header button{background:none;border:0;color:inherit;font-size:18px;cursor:pointer}" +
      "header a{color:inherit;text-decoration:none;margin-left:auto;padding:0 8px}form button.mic[data-state=live]{color:#b42318}" +
      ".log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}" +
      ".msg{max-width:85%;padding:7px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}" +
      ".user{align-self:flex-end;background:" + primary + ";color:" + text + "}" +
      ".assistant{align-self:flex-start;background:#f1f3f5}" +
      ".notice{align-self:center;color:#b42318;font-size:12px}" +
      ".status{font-size:12px;color:#666;padding:0 10px;min-height:16px}" +
      ".faq{display:flex;flex-wrap:wrap;gap:6px;padding:0 10px 8px}.faq[hidden]{display:none}" +
      ".faq button{border:1px solid " + primary + ";background:#fff;color:" + primary + ";border-radius:14px;" +
      "padding:4px 10px;font:12px/1.3 system-ui,sans-serif;cursor:pointer;text-align:left}" +
      ".msg p{margin:0 0 6px}.msg p:last-child{margin:0}.msg ul,.msg ol{margin:0 0 6px;padding-left:18px}" +
      ".msg code{background:#e5e7eb;border-radius:3px;padding:0 3px;font-size:12px}.msg a{color:inherit}" +
      "form{display:flex;border-top:1px solid #e5e7eb}" +
      "input{flex:1;border:0;padding:10px;font:inherit;outline:none}" +
      "form button{border:0;background:none;color:" + primary + ";font-weight:600;padding:0 12px;cursor:pointer}" +
      ".offer{align-self:stretch;background:#f8fafc;border:1px solid #e5e7eb;border-radius:10px;padding:8px}" +
      ".offer form{display:flex;flex-direction:column;gap:6px;border:0}" +
      ".offer .field{display:flex;flex-direction:column;gap:2px;font-size:13px}" +
      ".offer input,.offer textarea,.offer select{border:1px solid #d0d5dd;border-radius:6px;padding:6px;font:inherit}" +
      ".offer .choices input{flex:none}.offer .fault{color:#b42318;font-size:12px}" +
      ".offer button{align-self:flex-end;background:" + primary + ";color:" + text + ";border-radius:6px;padding:6px 12px}" +
      "</style>" +
      "<button class='launcher' type='button' aria-label='Open chat'><svg viewBox='0 0 24 24' width='26' height='26'" +
      " fill='currentColor' aria-hidden='true'><path d='M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6" +
      "a2 2 0 0 1 2-2z'/></svg></button>" +
      "<div class='panel' role='dialog' hidden><header><span class='title'></span>" +
      "<button class='close' type='button' aria-label='Close chat'>&times;</button></header>" +
      "<div class='log' role='log' aria-live='polite'></div><div class='status'></div><div class='faq' hidden></div>" +
      "<form><input class='input' type='text' autocomplete='off' placeholder='Type a message'>" +
      "<button type='submit'>Send</button></form></div>";
    var parts = {
      panel: root.querySelector(".panel"), log: root.querySelector(".log"), input: root.querySelector(".input"),
      status: root.querySelector(".status"), faq: root.querySelector(".faq"), opened: false,
      markdown: config.formatting === "markdown"
    };
    (config.faqButtons || []).slice(0, FAQ_BUTTONS).forEach(function (question) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = question;
      button.addEventListener("click", function () { ask(question); });
      parts.faq.appendChild(button);
    });
    parts.faq.hidden = !parts.faq.childNodes.length;
    root.querySelector(".title").textContent = config.name || "Chat";
    parts.input.maxLength = config.maxMessageChars || 2000;
    if (config.placeholder) parts.input.placeholder = config.placeholder;
    root.querySelector(".launcher").addEventListener("click", function () { toggle(config); });
    root.querySelector(".close").addEventListener("click", function () { parts.panel.hidden = true; });
    if (config.voiceEnabled) voice(root);
    if (config.messengerEnabled && !inline && location.origin + location.pathname !== src.origin + "/m/" + chatbotId) {
      var link = element("a", "popout", "\u2197"), header = root.querySelector("header");
      link.href = src.origin + "/m/" + encodeURIComponent(chatbotId) + "?autoOpen=1";
      link.target = "_blank"; link.rel = "noopener"; link.setAttribute("aria-label", "Open the chat in its own page");
      header.insertBefore(link, header.querySelector(".close"));
    }
    if (inline) {
      root.querySelector(".launcher").remove();
      root.querySelector(".close").remove();
    }
    root.querySelector(".panel > form").addEventListener("submit", function (event) {
      event.preventDefault();
      var value = parts.input.value.trim();
      if (!value) return;
      parts.input.value = "";
      ask(value);
    });
    return parts;
  }

  function voice(root) {
    var mic = element("button", "mic", "\uD83C\uDFA4"), tag = element("script"), form = root.querySelector(".panel > form");
    mic.type = "button"; mic.disabled = true; mic.setAttribute("aria-label", "Start a voice call");
    form.insertBefore(mic, form.lastChild);
    tag.src = apiBase + "/script.js?part=voice";
    tag.onload = function () {
      window.AgentServerVoice.attach(mic, { tokenUrl: apiBase + "/voice/token", badgeHost: root.querySelector(".title"),
        status: status, format: script.getAttribute("data-voice-format") });
    };
    document.head.appendChild(tag);
  }

  function ask(text) {
    add("user", text);
    send({ type: "user_message", text: text });
  }

  function toggle(config) {
    ui.panel.hidden = !ui.panel.hidden;
    if (!ui.panel.hidden && !ui.opened) {
      ui.opened = true;
      if (config.greeting) add("assistant", config.greeting);
      connect();
    }
    if (!ui.panel.hidden) ui.input.focus();
  }

  function add(kind, text) {
    var node = document.createElement("div");
    node.className = "msg " + kind;
    node.textContent = text;
    ui.log.appendChild(node);
    ui.log.scrollTop = ui.log.scrollHeight;
    return node;
  }

  function status(text) { ui.status.textContent = text; }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function control(spec, prefill) {
    var choices = (spec.type === "radio" || spec.type === "checkbox") && spec.options.length;
    var input;
    if (choices) {
      input = element("div", "choices");
      spec.options.forEach(function (option) {
        var choice = element("label"), box = element("input");
        box.type = spec.type; box.name = spec.id; box.value = option;
        choice.appendChild(box); choice.appendChild(document.createTextNode(" " + option)); input.appendChild(choice);
      });
    } else if (spec.type === "select") {
      input = element("select"); input.appendChild(element("option"));
      spec.options.forEach(function (option) { var o = element("option", "", option); o.value = option; input.appendChild(o); });
    } else {
      input = element(spec.type === "textarea" ? "textarea" : "input");
      if (input.tagName === "INPUT") input.type = INPUT_TYPES[spec.type] || "text";
      if (spec.maxLength) input.maxLength = spec.maxLength;
      if (prefill[spec.id] !== undefined) input.value = String(prefill[spec.id]);
    }
    input.dataset.field = spec.id;
    return input;
  }

  function valueOf(spec, input) {
    if (input.className === "choices") {
      var picked = Array.prototype.filter.call(input.querySelectorAll("input"), function (b) { return b.checked; })
        .map(function (b) { return b.value; });
      return spec.type === "radio" ? (picked[0] || "") : picked;
    }
    if (spec.type === "checkbox") return input.checked;
    if (spec.type === "number") return input.value === "" ? "" : Number(input.value);
    return input.value.trim();
  }

  function showForm(form, prefill) {
    var box = element("div", "offer"), body = element("form"), inputs = {}, faults = {};
    body.noValidate = true;
    box.appendChild(element("strong", "", form.title || form.name));
    if (form.description) box.appendChild(element("div", "", form.description));
    form.fields.forEach(function (spec) {
      var wrap = element("label", "field");
      wrap.appendChild(element("span", "", spec.label + (spec.required ? " *" : "")));
      inputs[spec.id] = control(spec, prefill);
      faults[spec.id] = element("span", "fault");
      wrap.appendChild(inputs[spec.id]); wrap.appendChild(faults[spec.id]); body.appendChild(wrap);
    });
    var terms = null;
    if (form.termsAndConditions) {
      body.appendChild(element("div", "", form.termsAndConditions));
      terms = element("input"); terms.type = "checkbox";
      var accept = element("label"); accept.appendChild(terms); accept.appendChild(document.createTextNode(" I accept"));
      body.appendChild(accept);
    }
    var problem = element("span", "fault"), button = element("button", "", "Submit");
    button.type = "submit"; body.appendChild(problem); body.appendChild(button); box.appendChild(body);
    body.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = {};
      form.fields.forEach(function (spec) {
        faults[spec.id].textContent = "";
        var value = valueOf(spec, inputs[spec.id]);
        if (value !== "" && !(Array.isArray(value) && !value.length)) data[spec.id] = value;
      });
      button.disabled = true; problem.textContent = "";
      fetch(submitUrl, { method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ formId: form.id, submittedData: data, conversationId: stored() || undefined,
                               termsAccepted: terms ? terms.checked : false }) })
        .then(function (response) { return response.json().then(function (reply) { return [response.status, reply]; }); })
        .then(function (result) {
          if (result[0] === 201) { box.remove(); add("assistant", result[1].message); return; }
          var error = result[1].error || {};
          (error.fields || []).forEach(function (f) { if (faults[f.field]) faults[f.field].textContent = f.message; });
          if (!error.fields) problem.textContent = error.message || "Something went wrong.";
          button.disabled = false;
        })
        .catch(function () { problem.textContent = "Something went wrong."; button.disabled = false; });
    });
    ui.log.appendChild(box);
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
    else outbox.push(message);
  }

  function connect() {
    var id = stored();
    ws = new WebSocket(socketBase + (id ? "?conversationId=" + encodeURIComponent(id) : ""));
    ws.onopen = function () {
      attempt = 0;
      status("");
      while (outbox.length) ws.send(JSON.stringify(outbox.shift()));
    };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      receive(message);
    };
    ws.onclose = function () {
      ws = null;
      if (current) { current.dataset.state = "interrupted"; current = null; }
      var delay = Math.min(10000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      status("Reconnecting…");
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, delay);
    };
  }

  function receive(message) {
    if (message.type === "delta") {
      if (!current) {
        current = add("assistant", "");
        current.dataset.state = "streaming";
        current.dataset.deltas = "0";
      }
      current.textContent += message.text;
      current.dataset.deltas = String(Number(current.dataset.deltas) + 1);
      ui.log.scrollTop = ui.log.scrollHeight;
    } else if (message.type === "done") {
      store(message.conversationId);
      if (current) {
        current.dataset.state = "done";
        if (ui.markdown) render(current, current.textContent);
      }
      current = null;
    } else if (message.type === "form" && message.form) {
      showForm(message.form, message.prefill || {});
    } else if (message.type === "error") {
      if (message.code === "CONVERSATION_NOT_FOUND") { store(null); return; }
      if (current) { current.dataset.state = "failed"; current = null; }
      add("notice", message.message || "Something went wrong.");
    }
  }

  /* Markdown, a safe subset: every piece of text goes in with textContent. */
  var INLINE = /(\*\*[^*]+\*\*|`[^`]+`|\[[^\]]+\]\(https?:\/\/[^)\s]+\)|\*[^*\s][^*]*\*|_[^_\s][^_]*_)/;

  function inlineNodes(parent, text) {
    text.split(INLINE).forEach(function (piece) {
      if (!piece) return;
      var node;
      var link = piece.match(/^\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)$/);
      if (link) {
        node = document.createElement("a");
        node.href = link[2];
        node.target = "_blank";
        node.rel = "noopener noreferrer nofollow";
        node.textContent = link[1];
      } else if (/^\*\*[^*]+\*\*$/.test(piece)) {
        node = document.createElement("strong"); node.textContent = piece.slice(2, -2);
      } else if (/^`[^`]+`$/.test(piece)) {
        node = document.createElement("code"); node.textContent = piece.slice(1, -1);
      } else if (/^(\*[^*]+\*|_[^_]+_)$/.test(piece)) {
        node = document.createElement("em"); node.textContent = piece.slice(1, -1);
      } else {
        node = document.createTextNode(piece);
      }
      parent.appendChild(node);
    });
  }

  function render(node, text) {
    node.textContent = "";
    var list = null;
    text.split(/\n/).forEach(function (line) {
      var item = line.match(/^\s*(?:[-*]|(\d+)[.)])\s+(.*)$/);
      if (item) {
        var kind = item[1] ? "ol" : "ul";
        if (!list || list.tagName.toLowerCase() !== kind) { list = document.createElement(kind); node.appendChild(list); }
        var li = document.createElement("li");
        inlineNodes(li, item[2]);
        list.appendChild(li);
        return;
      }
      list = null;
      if (!line.trim()) return;
      var p = document.createElement("p");
      inlineNodes(p, line);
      node.appendChild(p);
    });
  }

  function start() {
    fetch(apiBase + "/config", { credentials: "omit" })
      .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.json(); })
      .then(function (config) {
        ui = build(config);
        if (inline || autoOpen) toggle(config);
      })
      .catch(function () { /* not allowed on this site, or the server is down: show nothing */ });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
