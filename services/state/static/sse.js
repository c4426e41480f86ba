// The state service's /v1/events read with fetch (EventSource cannot send a read token), with
// reconnect and Last-Event-ID resume: every change is delivered once, in order, across reconnects
// and restarts of the service. "reset" means events were lost: the caller re-reads the state.

export class EventStream {
  constructor({ url = "/v1/events", kinds = [], afterSeq = null, headers = () => ({}), onChange, onReset,
                onStatus = () => {} }) {
    Object.assign(this, { url, kinds, afterSeq, headers, onChange, onReset, onStatus });
    this.lastEventId = null;
    this.failures = 0;
    this.stopped = false;
    this.controller = null;
  }

  start() { this.loop(); return this; }

  stop() { this.stopped = true; if (this.controller) this.controller.abort(); }

  // Restart from a state read that answered `seq` (after a reset).
  restartAfter(seq) { this.afterSeq = seq; this.lastEventId = null; if (this.controller) this.controller.abort(); }

  async loop() {
    while (!this.stopped) {
      let why = "closed by the service";
      try {
        await this.connect();
      } catch (err) {
        if (this.stopped) return;
        if (err.name === "AbortError") { why = "restarting"; this.failures = 0; continue; }
        if (err.status && err.status < 500) { this.onStatus("refused", err.message); return; }
        why = err.message || String(err);
      }
      if (this.stopped) return;
      this.failures += 1;
      const delay = Math.min(5000, 100 * 2 ** (this.failures - 1)) * (0.5 + Math.random() / 2);
      this.onStatus("reconnecting", `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  async connect() {
    const params = new URLSearchParams();
    if (this.kinds.length) params.set("kinds", this.kinds.join(","));
    const headers = { Accept: "text/event-stream", ...this.headers() };
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    else if (this.afterSeq !== null) params.set("after_seq", String(this.afterSeq));
    this.controller = new AbortController();
    const resp = await fetch(`${this.url}?${params}`, { headers, signal: this.controller.signal, cache: "no-store" });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      const err = new Error(`HTTP ${resp.status} ${body.error || ""}: ${body.reason || ""}`);
      err.status = resp.status;
      throw err;
    }
    this.onStatus("live", "");
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let ev = { event: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          if (ev.data.length) this.dispatch(ev);
          ev = { event: "message", data: [], id: null };
          continue;
        }
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "data") ev.data.push(val);
        else if (field === "event") ev.event = val;
        else if (field === "id") ev.id = val;
      }
    }
  }

  dispatch(ev) {
    const data = JSON.parse(ev.data.join("\n"));
    if (ev.event === "overflow") throw new Error("cut off for reading too slowly");
    if (ev.event === "reset") { this.onReset(data); return; }
    if (ev.id) this.lastEventId = ev.id;
    this.failures = 0;
    this.onChange(data);
  }
}
