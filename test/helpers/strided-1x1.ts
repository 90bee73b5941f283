// Child process: the gradients of strided 1x1 convolutions (the ResNet shortcut) with 1..9 input
// channels, in channels-last and NCHW layout, against the same sums written out in float64.
// A 1x1 convolution at stride 2 with zero padding reads input pixels (2i, 2j) only:
//   y[n,o,i,j] = sum_c w[o,c] x[n,c,2i,2j]
//   dL/dw[o,c] = sum_{n,i,j} g[n,o,i,j] x[n,c,2i,2j]      (g = dL/dy)
//   dL/dx[n,c,2i,2j] = sum_o g[n,o,i,j] w[o,c], and 0 at every other pixel
import { F, Generator, tidy } from '../../src/engine/index.js';

F.setNumThreads(2);
const gen = new Generator(5);
let cases = 0;
for (const layout of ['channels_last', 'contiguous'] as const) {
  for (let ic = 1; ic <= 9; ic++) {
    for (const [h, oc] of [[8, 2 * ic], [7, 3]] as const) {
      tidy(() => {
        const n = 3;
        const x = F.randn([n, ic, h, h], { generator: gen }).contiguous(layout).requiresGrad_();
        const w = F.randn([oc, ic, 1, 1], { generator: gen }).contiguous(layout).requiresGrad_();
        const y = F.conv2d(x, w, null, { stride: 2 });
        const oh = Math.ceil(h / 2);
        if (y.shape.join() !== [n, oc, oh, oh].join()) throw new Error(`output shape ${y.shape} for ic ${ic}, h ${h}`);
        const g = F.randn(y.shape, { generator: gen });
        y.backward(g);
        const X = x.detach().data<'float32'>();
        const W = w.detach().data<'float32'>();
        const G = g.data<'float32'>();
        const Y = y.detach().data<'float32'>();
        const dW = w.grad!.data<'float32'>();
        const dX = x.grad!.data<'float32'>();
        const xi = (b: number, c: number, r: number, s: number): number => ((b * ic + c) * h + r) * h + s;
        const yi = (b: number, o: number, i: number, j: number): number => ((b * oc + o) * oh + i) * oh + j;
        const close = (got: number, want: number, what: string): void => {
          if (!(Math.abs(got - want) <= 1e-4 * (1 + Math.abs(want)))) throw new Error(`${layout} ic ${ic} h ${h}: ${what} = ${got}, want ${want}`);
        };
        const dXwant = new Float64Array(dX.length);
        for (let o = 0; o < oc; o++) {
          for (let c = 0; c < ic; c++) {
            let s = 0;
            for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < oh; j++) s += G[yi(b, o, i, j)]! * X[xi(b, c, 2 * i, 2 * j)]!;
            close(dW[o * ic + c]!, s, `dw[${o},${c}]`);
          }
        }
        for (let b = 0; b < n; b++) {
          for (let o = 0; o < oc; o++) {
            for (let i = 0; i < oh; i++) {
              for (let j = 0; j < oh; j++) {
                let s = 0;
                for (let c = 0; c < ic; c++) {
                  s += W[o * ic + c]! * X[xi(b, c, 2 * i, 2 * j)]!;
                  dXwant[xi(b, c, 2 * i, 2 * j)]! += G[yi(b, o, i, j)]! * W[o * ic + c]!;
                }
                close(Y[yi(b, o, i, j)]!, s, `y[${b},${o},${i},${j}]`);
              }
            }
          }
        }
        for (let k = 0; k < dX.length; k++) close(dX[k]!, dXwant[k]!, `dx[${k}]`);
      });
      cases++;
    }
  }
}
console.log(`checked ${cases} cases`);
