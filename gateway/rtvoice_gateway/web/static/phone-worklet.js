// Audio worklets of the softphone: the microphone to 8 kHz μ-law frames, and μ-law back to the speakers.
"use strict";

const FRAME = 160; // 20 ms at 8 kHz

function linearToUlaw(x) {
  let s = Math.round(Math.max(-1, Math.min(1, x)) * 32767);
  const sign = s < 0 ? 0x80 : 0;
  if (sign) s = -s;
  s = Math.min(s, 32635) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

const ULAW_TABLE = new Float32Array(256);
for (let u = 0; u < 256; u++) {
  const v = ~u & 0xff;
  const exponent = (v >> 4) & 7;
  const magnitude = ((((v & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  ULAW_TABLE[u] = ((v & 0x80) ? -magnitude : magnitude) / 32768;
}

// The microphone: averages the context-rate input over each 1/8000 s (a box low-pass), encodes μ-law and
// posts 160-byte frames.
class UlawEncoder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / 8000;
    this.position = 0;
    this.sum = 0;
    this.count = 0;
    this.frame = new Uint8Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const samples = inputs[0] && inputs[0][0];
    if (samples) {
      for (let i = 0; i < samples.length; i++) {
        this.sum += samples[i];
        this.count++;
        this.position += 1;
        if (this.position >= this.step) {
          this.position -= this.step;
          this.frame[this.filled++] = linearToUlaw(this.sum / this.count);
          this.sum = 0;
          this.count = 0;
          if (this.filled === FRAME) {
            this.port.postMessage(this.frame.slice());
            this.filled = 0;
          }
        }
      }
    }
    return true;
  }
}

// The speaker: 8 kHz μ-law in (media), interpolated to the context rate. A mark is echoed when the audio
// queued before it has played; clear drops what is queued and echoes every pending mark at once (as
// Twilio does).
class UlawPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.capacity = 8000 * 120; // two minutes of queued audio at most
    this.buffer = new Float32Array(this.capacity);
    this.written = 0; // 8 kHz samples queued, ever
    this.read = 0; // playout position, in 8 kHz samples (fractional)
    this.played = 0; // 8 kHz samples played, ever
    this.marks = [];
    this.step = 8000 / sampleRate;
    this.ticks = 0;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === "media") {
      for (const u of message.data) {
        if (this.written - this.read >= this.capacity - 1) break; // full: the rest is dropped
        this.buffer[this.written % this.capacity] = ULAW_TABLE[u];
        this.written++;
      }
    } else if (message.type === "mark") {
      this.marks.push({ name: message.name, at: this.written });
      this.echoPlayed();
    } else if (message.type === "clear") {
      this.read = this.written;
      for (const mark of this.marks) this.port.postMessage({ type: "mark", name: mark.name });
      this.marks = [];
    }
  }

  echoPlayed() {
    while (this.marks.length && this.marks[0].at <= this.read) {
      this.port.postMessage({ type: "mark", name: this.marks.shift().name });
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    for (let i = 0; i < out.length; i++) {
      if (this.read + 1 <= this.written) {
        const at = Math.floor(this.read);
        const frac = this.read - at;
        const a = this.buffer[at % this.capacity];
        const b = at + 1 < this.written ? this.buffer[(at + 1) % this.capacity] : a;
        out[i] = a + (b - a) * frac;
        const before = Math.floor(this.read);
        this.read = Math.min(this.read + this.step, this.written);
        this.played += Math.floor(this.read) - before;
      } else {
        out[i] = 0;
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    this.echoPlayed();
    if (++this.ticks % 20 === 0) this.port.postMessage({ type: "stats", played: this.played });
    return true;
  }
}

registerProcessor("ulaw-encoder", UlawEncoder);
registerProcessor("ulaw-player", UlawPlayer);
