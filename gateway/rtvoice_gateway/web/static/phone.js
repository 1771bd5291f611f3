// The softphone: the page plays the carrier's part of a Twilio media stream (see docs/dashboard.md).
"use strict";

// What the tests (and the curious) read: counters of the current or last call.
window.phone = { state: "idle", sentFrames: 0, playedSamples: 0, marksEchoed: 0, clears: 0, callSid: null };

let call = null; // {ws, context, microphone, streamSid, callSid, accountSid, sequence}

const $ = (id) => document.getElementById(id);

function setState(state, error = "") {
  window.phone.state = state;
  $("status").textContent = state;
  $("status").className = `pill ${state === "in call" ? "on" : "off"}`;
  $("error").textContent = error;
  $("call").disabled = state !== "idle" && state !== "ended";
  $("hangup").disabled = state !== "in call" && state !== "calling";
}

function send(message) {
  if (!call || call.ws.readyState !== WebSocket.OPEN) return;
  call.sequence += 1;
  call.ws.send(JSON.stringify({ ...message, sequenceNumber: String(call.sequence) }));
}

function base64(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

function unbase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

async function loadNumbers() {
  const response = await fetch("/phone/numbers", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`numbers: HTTP ${response.status}`);
  const select = $("number");
  for (const { number, agent } of await response.json()) {
    select.append(new Option(number === "default" ? `any number (${agent})` : `${number} (${agent})`, number));
  }
  setState("idle");
}

async function placeCall() {
  setState("calling");
  Object.assign(window.phone, { sentFrames: 0, playedSamples: 0, marksEchoed: 0, clears: 0 });
  const context = new AudioContext();
  let microphone = null;
  try {
    await context.audioWorklet.addModule("/dashboard/static/phone-worklet.js");
    microphone = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const response = await fetch("/phone/call", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ number: $("number").value }),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${answer.path}`);
    call = {
      ws, context, microphone, sequence: 0, chunk: 0,
      callSid: answer.call_sid, accountSid: answer.account_sid,
      streamSid: "MZ" + Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""),
    };
    window.phone.callSid = call.callSid;
    $("call-sid").textContent = call.callSid;
    ws.onopen = () => start(call);
    ws.onmessage = (message) => receive(call, JSON.parse(message.data));
    ws.onclose = () => finish(call);
  } catch (error) {
    if (microphone) for (const track of microphone.getTracks()) track.stop();
    await context.close();
    setState("ended", String(error.message || error));
  }
}

function start(current) {
  const { context, microphone } = current;
  send({ event: "connected", protocol: "Call", version: "1.0.0" });
  send({
    event: "start",
    streamSid: current.streamSid,
    start: {
      streamSid: current.streamSid, accountSid: current.accountSid, callSid: current.callSid,
      tracks: ["inbound"], customParameters: {},
      mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
    },
  });
  const player = new AudioWorkletNode(context, "ulaw-player", { numberOfInputs: 0, outputChannelCount: [1] });
  player.connect(context.destination);
  player.port.onmessage = ({ data }) => {
    if (data.type === "mark") {
      window.phone.marksEchoed += 1;
      send({ event: "mark", streamSid: current.streamSid, mark: { name: data.name } });
    } else if (data.type === "stats") {
      window.phone.playedSamples = data.played;
      $("played-ms").textContent = String(Math.round(data.played / 8));
      $("marks").textContent = String(window.phone.marksEchoed);
    }
  };
  const encoder = new AudioWorkletNode(context, "ulaw-encoder");
  const mute = new GainNode(context, { gain: 0 }); // keeps the encoder pulled by the graph, silently
  context.createMediaStreamSource(microphone).connect(encoder).connect(mute).connect(context.destination);
  const started = performance.now();
  encoder.port.onmessage = ({ data }) => {
    current.chunk += 1;
    send({
      event: "media",
      streamSid: current.streamSid,
      media: {
        track: "inbound", chunk: String(current.chunk),
        timestamp: String(Math.round(performance.now() - started)), payload: base64(data),
      },
    });
    window.phone.sentFrames = current.chunk;
    if (current.chunk % 25 === 0) $("sent-frames").textContent = String(current.chunk);
  };
  current.player = player;
  context.resume();
  setState("in call");
}

function receive(current, message) {
  if (!current.player) return;
  if (message.event === "media") {
    current.player.port.postMessage({ type: "media", data: unbase64(message.media.payload) });
  } else if (message.event === "mark") {
    current.player.port.postMessage({ type: "mark", name: message.mark.name });
  } else if (message.event === "clear") {
    window.phone.clears += 1;
    $("clears").textContent = String(window.phone.clears);
    current.player.port.postMessage({ type: "clear" });
  }
}

function pressKey(digit) {
  if (!call) return;
  send({ event: "dtmf", streamSid: call.streamSid, dtmf: { track: "inbound_track", digit } });
}

function hangUp() {
  if (!call) return;
  send({ event: "stop", streamSid: call.streamSid, stop: { accountSid: call.accountSid, callSid: call.callSid } });
  call.ws.close(1000);
}

function finish(current) {
  if (call !== current) return;
  call = null;
  for (const track of current.microphone.getTracks()) track.stop();
  current.context.close();
  setState("ended");
}

for (const key of "123456789*0#") {
  const button = document.createElement("button");
  button.textContent = key;
  button.dataset.digit = key;
  button.addEventListener("click", () => pressKey(key));
  $("dialpad").append(button);
}
$("call").addEventListener("click", placeCall);
$("hangup").addEventListener("click", hangUp);
loadNumbers().catch((error) => setState("idle", String(error.message || error)));
