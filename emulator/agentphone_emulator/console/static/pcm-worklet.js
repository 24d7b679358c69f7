// Runs on the audio thread: the microphone's float samples at the context's rate -> PCM16 mono
// at 16 kHz (linear interpolation), posted to the page in 20 ms blocks.
class Pcm16Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.rate = options.processorOptions.rate;
    this.step = sampleRate / this.rate;
    this.position = 0;
    this.block = new Int16Array(this.rate / 50);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    while (this.position < input.length) {
      const i = Math.floor(this.position);
      const next = i + 1 < input.length ? input[i + 1] : input[i];
      const value = input[i] + (next - input[i]) * (this.position - i);
      this.block[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(value * 32767)));
      if (this.filled === this.block.length) {
        this.port.postMessage(this.block.buffer.slice(0));
        this.filled = 0;
      }
      this.position += this.step;
    }
    this.position -= input.length;
    return true;
  }
}

registerProcessor("pcm16-capture", Pcm16Capture);
