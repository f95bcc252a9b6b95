/* agent-server voice: the mic button of the widget, the inline chat and the hosted page.
 * One file, two roles. Loaded by a page it is the client, window.AgentServerVoice: the button
 * asks POST /api/widget/{id}/voice/token for a call, opens the grant's websocket and speaks
 * Twilio Media Streams on it (start with the token; marks echoed; clear obeyed), with the
 * caller's audio and the agent's as binary 20 ms frames ("frames": "binary" in start) of
 * 16 kHz L16 by default, or 8 kHz mu-law (data-voice-format="mulaw" on the widget's tag).
 * Loaded by AudioWorklet.addModule (the same URL) it registers the two processors: capture
 * (the mic, echo-cancelled by getUserMedia, down to the wire's rate in 20 ms frames) and
 * playback (a 60 ms jitter buffer, up to the context's rate; a mark is echoed once the audio
 * queued before it has played, and a clear drops the queued audio and echoes the marks it
 * held, as Twilio does). window.__agentVoice counts what happened, for tests and debugging. */
(function () {
  "use strict";
  var FRAME_MS = 20;

  function mulawEncode(sample) {
    var sign = sample < 0 ? 0x80 : 0, s = sign ? -sample : sample, exponent = 7, mask = 0x4000;
    if (s > 32635) s = 32635;
    s += 0x84;
    while ((s & mask) === 0 && exponent > 0) { exponent -= 1; mask >>= 1; }
    return ~(sign | (exponent << 4) | ((s >> (exponent + 3)) & 0x0f)) & 0xff;
  }

  function mulawDecode(code) {
    var u = ~code & 0xff, magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84;
    return u & 0x80 ? -magnitude : magnitude;
  }

  if (typeof registerProcessor === "function") {
    /* The worklet scope: sampleRate is the context's rate. */
    class Capture extends AudioWorkletProcessor {
      constructor(options) {
        super();
        var wire = options.processorOptions;
        this.mulaw = wire.mulaw;
        this.rate = wire.rate;  /* the phase counts in 1/sampleRate units: integers, so no drift */
        this.size = wire.rate * FRAME_MS / 1000;
        this.phase = 0; this.sum = 0; this.count = 0; this.filled = 0;
        this.frame = this.fresh();
      }
      fresh() { return this.mulaw ? new Uint8Array(this.size) : new Int16Array(this.size); }
      /* Down-sampling by averaging the context's samples that fall in each wire sample (a box low-pass). */
      process(inputs) {
        var input = inputs[0] && inputs[0][0];
        if (!input) return true;
        for (var i = 0; i < input.length; i += 1) {
          this.sum += input[i]; this.count += 1; this.phase += this.rate;
          if (this.phase < sampleRate) continue;
          this.phase -= sampleRate;
          var value = Math.max(-1, Math.min(1, this.sum / this.count)) * 32767 | 0;
          this.sum = 0; this.count = 0;
          this.frame[this.filled] = this.mulaw ? mulawEncode(value) : value;
          this.filled += 1;
          if (this.filled === this.size) {
            this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
            this.frame = this.fresh();
            this.filled = 0;
          }
        }
        return true;
      }
    }

    class Playback extends AudioWorkletProcessor {
      constructor(options) {
        super();
        var wire = options.processorOptions, self = this;
        this.rate = wire.rate;  /* t counts in 1/sampleRate units of a wire sample: integers, so no drift */
        this.jitter = wire.rate * wire.jitterMs / 1000;
        this.queue = []; this.queued = 0; this.offset = 0; this.buffering = true; this.waited = 0;
        this.previous = 0; this.current = 0; this.t = 0; this.played = 0; this.echoes = [];
        this.port.onmessage = function (event) { self.receive(event.data); };
      }
      receive(message) {
        if (message.frame) { this.queue.push(message.frame); this.queued += message.frame.length; return; }
        if (message.mark !== undefined) { this.queue.push({ mark: message.mark }); return; }
        var dropped = 0, echoes = this.echoes;
        this.queue.forEach(function (item) { if (item.mark !== undefined) echoes.push(item.mark); else dropped += 1; });
        this.queue = []; this.queued = 0; this.offset = 0; this.buffering = true; this.waited = 0;
        this.previous = 0; this.current = 0;
        this.port.postMessage({ marks: echoes.splice(0), played: 0, dropped: dropped });
      }
      /* The next wire sample, echoing the marks it passes; null when the queue has run dry. */
      next() {
        for (;;) {
          var head = this.queue[0];
          if (!head) return null;
          if (head.mark !== undefined) { this.echoes.push(head.mark); this.queue.shift(); continue; }
          if (this.offset < head.length) { this.queued -= 1; return head[this.offset++]; }
          this.queue.shift(); this.offset = 0; this.played += 1;
        }
      }
      process(inputs, outputs) {
        var out = outputs[0][0];
        while (this.queue.length && this.queue[0].mark !== undefined) this.echoes.push(this.queue.shift().mark);
        if (this.buffering && this.queued > 0) {
          this.waited += out.length * this.rate / sampleRate;  /* a reply shorter than the buffer still plays */
          if (this.queued >= this.jitter || this.waited >= this.jitter) this.buffering = false;
        }
        for (var i = 0; i < out.length; i += 1) {
          if (this.buffering) { out[i] = 0; continue; }
          this.t += this.rate;
          while (this.t >= sampleRate) {
            var sample = this.next();
            if (sample === null) { this.buffering = true; this.waited = 0; this.t = 0; break; }
            this.previous = this.current; this.current = sample; this.t -= sampleRate;
          }
          out[i] = this.buffering ? 0 : this.previous + (this.current - this.previous) * this.t / sampleRate;
        }
        var head = this.queue[0];
        if (head && head.mark === undefined && this.offset === head.length) {
          this.queue.shift(); this.offset = 0; this.played += 1;
        }
        if (this.played || this.echoes.length) {
          this.port.postMessage({ marks: this.echoes.splice(0), played: this.played, dropped: 0 });
          this.played = 0;
        }
        return true;
      }
    }

    registerProcessor("agent-capture", Capture);
    registerProcessor("agent-playback", Playback);
    return;
  }

  var script = document.currentScript;
  var moduleUrl = script && script.src;
  var counters = window.__agentVoice = {
    state: "idle", framesSent: 0, framesReceived: 0, framesPlayed: 0, framesDropped: 0, marksEchoed: 0, clears: 0,
    recording: false
  };

  function unbase64(text) {
    var raw = window.atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function samples(buffer, mulaw) {
    var out, i;
    if (mulaw) {
      var codes = new Uint8Array(buffer);
      out = new Float32Array(codes.length);
      for (i = 0; i < codes.length; i += 1) out[i] = mulawDecode(codes[i]) / 32768;
      return out;
    }
    var view = new DataView(buffer);
    out = new Float32Array(buffer.byteLength >> 1);
    for (i = 0; i < out.length; i += 1) out[i] = view.getInt16(2 * i, true) / 32768;
    return out;
  }

  function little(frame) {  /* the capture's Int16Array, little-endian whatever the platform */
    var view = new DataView(new ArrayBuffer(frame.length * 2));
    for (var i = 0; i < frame.length; i += 1) view.setInt16(2 * i, frame[i], true);
    return view.buffer;
  }

  /* One call: start() in a click handler (the AudioContext needs the gesture), stop() to hang up. */
  function Call(options) {
    this.options = options;
    this.mulaw = options.format === "mulaw";
    this.rate = this.mulaw ? 8000 : 16000;
    this.ws = null; this.context = null; this.stream = null; this.started = false; this.sequence = 1;
  }

  Call.prototype.start = function () {
    var call = this;
    call.context = new (window.AudioContext || window.webkitAudioContext)();
    call.state("connecting");
    var wire = { rate: call.rate, mulaw: call.mulaw, jitterMs: 60 };
    return navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, channelCount: 1 } })
      .then(function (stream) { call.stream = stream; return call.context.audioWorklet.addModule(moduleUrl); })
      .then(function () {
        call.playback = new AudioWorkletNode(call.context, "agent-playback",
          { numberOfInputs: 0, outputChannelCount: [1], processorOptions: wire });
        call.playback.connect(call.context.destination);
        call.playback.port.onmessage = function (event) { call.played(event.data); };
        call.capture = new AudioWorkletNode(call.context, "agent-capture", { processorOptions: wire });
        var mute = call.context.createGain();
        mute.gain.value = 0;  /* pulls the capture node without playing the mic back */
        call.context.createMediaStreamSource(call.stream).connect(call.capture);
        call.capture.connect(mute).connect(call.context.destination);
        call.capture.port.onmessage = function (event) { call.send(event.data); };
        return fetch(call.options.tokenUrl, { method: "POST", credentials: "omit" });
      })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status === 402 ? "Calls are unavailable right now." : "Call refused.");
        return response.json();
      })
      .then(function (grant) { call.connect(grant); })
      .catch(function (error) { call.stop(error.message || "Call failed."); });
  };

  Call.prototype.connect = function (grant) {
    var call = this;
    if (call.ended) return;  /* hung up while connecting: the unused token expires on its own */
    call.callId = grant.callId;
    counters.recording = !!grant.recording;
    if (call.options.onRecording) call.options.onRecording(counters.recording);
    call.ws = new WebSocket(grant.url);
    call.ws.binaryType = "arraybuffer";
    call.ws.onopen = function () {
      call.json({ event: "connected", protocol: "Call", version: "1.0.0" });
      call.json({ event: "start", sequenceNumber: "1", streamSid: "MZweb", start: {
        streamSid: "MZweb", accountSid: "", callSid: grant.callId, tracks: ["inbound"],
        customParameters: { token: grant.token, frames: "binary" },
        mediaFormat: { encoding: call.mulaw ? "audio/x-mulaw" : "audio/L16", sampleRate: call.rate, channels: 1 } } });
      call.started = true;
      call.state("live");
    };
    call.ws.onmessage = function (event) { call.receive(event.data); };
    call.ws.onclose = function () { call.stop(""); };
  };

  Call.prototype.json = function (message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  };

  Call.prototype.send = function (buffer) {
    if (!this.started || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(this.mulaw ? buffer : little(new Int16Array(buffer)));
    counters.framesSent += 1;
  };

  Call.prototype.receive = function (data) {
    var message;
    if (typeof data !== "string") { this.audio(data); return; }
    try { message = JSON.parse(data); } catch (e) { return; }
    if (message.event === "media" && message.media) this.audio(unbase64(message.media.payload));
    else if (message.event === "mark" && message.mark) this.playback.port.postMessage({ mark: message.mark.name });
    else if (message.event === "clear") { counters.clears += 1; this.playback.port.postMessage({ clear: true }); }
  };

  Call.prototype.audio = function (buffer) {
    counters.framesReceived += 1;
    var frame = samples(buffer, this.mulaw);
    this.playback.port.postMessage({ frame: frame }, [frame.buffer]);
  };

  Call.prototype.played = function (report) {
    var call = this;
    counters.framesPlayed += report.played;
    counters.framesDropped += report.dropped;
    report.marks.forEach(function (name) {
      call.sequence += 1;
      call.json({ event: "mark", sequenceNumber: String(call.sequence), streamSid: "MZweb", mark: { name: name } });
      counters.marksEchoed += 1;
    });
  };

  Call.prototype.stop = function (reason) {
    if (this.ended) return;
    this.ended = true;
    counters.recording = false;
    this.json({ event: "stop", sequenceNumber: String(this.sequence + 1), streamSid: "MZweb",
                stop: { accountSid: "", callSid: this.callId || "" } });
    if (this.ws) this.ws.close();
    if (this.stream) this.stream.getTracks().forEach(function (track) { track.stop(); });
    if (this.context) this.context.close();
    this.state("idle", reason);
  };

  Call.prototype.state = function (name, reason) {
    counters.state = name;
    if (this.options.onState) this.options.onState(name, reason || "");
  };

  /* The widget's mic button: one click calls, the next hangs up; a badge while the call is recorded. */
  function attach(button, options) {
    var call = null;
    var badge = document.createElement("span");
    badge.className = "recording";
    badge.textContent = "\u25CF Recording";
    badge.hidden = true;
    badge.style.cssText = "font-size:11px;font-weight:600;margin-left:8px;color:inherit";
    if (options.badgeHost) options.badgeHost.appendChild(badge);
    button.disabled = false;
    button.addEventListener("click", function () {
      if (call) { call.stop(""); return; }
      call = new Call({
        tokenUrl: options.tokenUrl, format: options.format,
        onRecording: function (on) { badge.hidden = !on; },
        onState: function (name, reason) {
          button.dataset.state = name;
          button.setAttribute("aria-label", name === "idle" ? "Start a voice call" : "End the voice call");
          if (options.status) options.status(name === "connecting" ? "Connecting…" : reason);
          if (name === "idle") { call = null; badge.hidden = true; }
        }
      });
      call.start();
    });
  }

  window.AgentServerVoice = { attach: attach, Call: Call };
})();
