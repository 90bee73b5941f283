// Squared maximum mean discrepancy (MMD) with a Gaussian kernel, for sets of images that go
// through the diffusion's forward process x_t = sqrt(abar) x + sqrt(1 - abar) eps.
//
// Kernel: k(u, v) = exp(-||u - v||^2 / (2 sigma2)). The bandwidth comes from the median
// heuristic (sigma2 = median pairwise squared distance of a reference set), and is kept fixed
// across noise levels so that their MMDs are comparable.
//
// Estimator: the two sets are paired (row i of X and row i of Y are the same image, clean and
// poisoned), so we use the U-statistic over pairs z_i = (x_i, y_i) (Gretton et al. 2012, Lemma 6):
//   MMD_u^2 = 1/(n(n-1)) sum_{i != j} h(z_i, z_j),
//   h(z_i, z_j) = k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(x_j, y_i).
// The i = j cross terms k(x_i, y_i) are left out, so the pairing cannot bias it: it is unbiased
// for MMD^2 of the two distributions (and also for independent samples of equal size).
//
// Speed: with the same noise draws at every level, every inner product between noised rows is a
// fixed combination of level-independent inner products:
//   <a A_i + s B_i, a C_j + s E_j> = a^2 <A_i,C_j> + a s (<A_i,E_j> + <B_i,C_j>) + s^2 <B_i,E_j>,
// so the O(n^2 D) work is done once, in tiles, and every level costs O(n^2).

/** Row-major rows x cols matrix of float32 values (one image or one noise draw per row). */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/** Any row-major matrix (used by the direct, unoptimised estimators). */
export interface MatrixLike {
  rows: number;
  cols: number;
  data: Float32Array | Float64Array;
}

export function zeroMatrix(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Float32Array(rows * cols) };
}

/**
 * A set noised by the forward process at level abar: row i is
 * sqrt(abar) * image[i] + sqrt(1 - abar) * noise[i] (the same noise draw at every level).
 */
export interface NoisedSet {
  image: Matrix;
  noise: Matrix;
}

/** Squared MMD per level, and its standard error, of each pair of noised sets. */
export interface NoisedMmdResult {
  /** mmd2[p][l]: pair p at level l. */
  mmd2: number[][];
  /** First-order standard error of the U-statistic (see uStatisticSe). */
  se: number[][];
  /** rowMeans[p][l][i] = 1/(n-1) sum_{j != i} h(z_i, z_j); their mean is mmd2[p][l]. */
  rowMeans: Float64Array[][];
}

/**
 * First-order standard error of an order-2 U-statistic from its row means hbar_i:
 * sqrt(4 Var_i(hbar_i) / n). (It is only a lower bound near MMD = 0, where the first-order
 * term vanishes.)
 */
export function uStatisticSe(rowMeans: ArrayLike<number>): number {
  const n = rowMeans.length;
  if (n < 2) return NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += rowMeans[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (rowMeans[i]! - mean) ** 2;
  v /= n - 1;
  return Math.sqrt((4 * v) / n);
}

export interface NoisedMmdOptions {
  /** Rows per tile (default 64). */
  tile?: number;
  /** Called after each tile with the fraction done. */
  onProgress?: (fraction: number) => void;
}

const TILE = 64;

/**
 * out[(i - i0) * (j1 - j0) + (j - j0)] = <A_i, C_j> for i in [i0, i1), j in [j0, j1).
 * Blocked 2 x 2 so each loaded value is used twice; accumulated in float64.
 */
function gramTile(A: Float32Array, C: Float32Array, D: number, i0: number, i1: number, j0: number, j1: number, out: Float64Array): void {
  const bj = j1 - j0;
  let i = i0;
  for (; i + 1 < i1; i += 2) {
    const a0 = i * D;
    const a1 = a0 + D;
    const r0 = (i - i0) * bj - j0;
    const r1 = r0 + bj;
    let j = j0;
    for (; j + 1 < j1; j += 2) {
      const c0 = j * D;
      const c1 = c0 + D;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let k = 0; k < D; k++) {
        const x0 = A[a0 + k]!;
        const x1 = A[a1 + k]!;
        const y0 = C[c0 + k]!;
        const y1 = C[c1 + k]!;
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      out[r0 + j] = s00;
      out[r0 + j + 1] = s01;
      out[r1 + j] = s10;
      out[r1 + j + 1] = s11;
    }
    if (j < j1) {
      const c0 = j * D;
      let s0 = 0;
      let s1 = 0;
      for (let k = 0; k < D; k++) {
        const y = C[c0 + k]!;
        s0 += A[a0 + k]! * y;
        s1 += A[a1 + k]! * y;
      }
      out[r0 + j] = s0;
      out[r1 + j] = s1;
    }
  }
  if (i < i1) {
    const a0 = i * D;
    const r0 = (i - i0) * bj - j0;
    for (let j = j0; j < j1; j++) {
      const c0 = j * D;
      let s = 0;
      for (let k = 0; k < D; k++) s += A[a0 + k]! * C[c0 + k]!;
      out[r0 + j] = s;
    }
  }
}

/** <A_i, C_i> for every row i. */
function rowDots(A: MatrixLike, C: MatrixLike): Float64Array {
  const D = A.cols;
  const out = new Float64Array(A.rows);
  for (let i = 0; i < A.rows; i++) {
    let s = 0;
    const o = i * D;
    for (let k = 0; k < D; k++) s += A.data[o + k]! * C.data[o + k]!;
    out[i] = s;
  }
  return out;
}

function checkSameShape(what: string, ...ms: MatrixLike[]): void {
  const [m0] = ms;
  for (const m of ms) {
    if (m.data.length !== m.rows * m.cols) throw new Error(`${what}: a ${m.rows}x${m.cols} matrix holds ${m.data.length} values`);
    if (m.rows !== m0!.rows || m.cols !== m0!.cols) {
      throw new Error(`${what}: matrices must have the same shape, got ${m0!.rows}x${m0!.cols} and ${m.rows}x${m.cols}`);
    }
  }
}

/** Median of the n(n-1)/2 pairwise squared distances between rows (the median heuristic's sigma^2). */
export function medianPairwiseSqDist(x: Matrix, o: { tile?: number } = {}): number {
  const n = x.rows;
  if (n < 2) throw new Error(`median heuristic: need at least 2 rows, got ${n}`);
  const norms = rowDots(x, x);
  const d2 = new Float64Array((n * (n - 1)) / 2);
  const bt = o.tile ?? TILE;
  const buf = new Float64Array(bt * bt);
  let w = 0;
  for (let i0 = 0; i0 < n; i0 += bt) {
    const i1 = Math.min(n, i0 + bt);
    for (let j0 = i0; j0 < n; j0 += bt) {
      const j1 = Math.min(n, j0 + bt);
      gramTile(x.data, x.data, x.cols, i0, i1, j0, j1, buf);
      const bj = j1 - j0;
      for (let i = i0; i < i1; i++) {
        for (let j = Math.max(j0, i + 1); j < j1; j++) {
          d2[w++] = Math.max(0, norms[i]! + norms[j]! - 2 * buf[(i - i0) * bj + (j - j0)]!);
        }
      }
    }
  }
  d2.sort();
  const m = d2.length;
  return m % 2 === 1 ? d2[(m - 1) / 2]! : (d2[m / 2 - 1]! + d2[m / 2]!) / 2;
}

/** Gaussian kernel exp(-||u - v||^2 / (2 sigma2)) between row i of x and row j of y. */
function kernel(x: MatrixLike, i: number, y: MatrixLike, j: number, inv2s2: number): number {
  const D = x.cols;
  let d2 = 0;
  for (let k = 0; k < D; k++) {
    const d = x.data[i * D + k]! - y.data[j * D + k]!;
    d2 += d * d;
  }
  return Math.exp(-d2 * inv2s2);
}

/**
 * Unbiased squared MMD between two equal-size sets, computed directly (O(n^2 D), no tiling):
 * the U-statistic over pairs (x_i, y_i) described at the top of this file.
 */
export function mmd2Unbiased(x: MatrixLike, y: MatrixLike, sigma2: number): number {
  checkSameShape('mmd2Unbiased', x, y);
  const n = x.rows;
  if (n < 2) throw new Error(`mmd2Unbiased: need at least 2 rows, got ${n}`);
  if (!(sigma2 > 0)) throw new Error(`mmd2Unbiased: sigma2 must be positive, got ${sigma2}`);
  const inv = 1 / (2 * sigma2);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      sum += kernel(x, i, x, j, inv) + kernel(y, i, y, j, inv) - kernel(x, i, y, j, inv) - kernel(x, j, y, i, inv);
    }
  }
  return sum / ((n * (n - 1)) / 2);
}

/**
 * Squared MMD between the noised sets of each pair, at each level abar (1 = no noise), using the
 * tiled level-independent inner products. All matrices must have the same shape; a matrix used
 * by several sets (e.g. the clean images, or one noise draw shared by the poisoned sets) is
 * multiplied only once.
 */
export function noisedMmd2(
  pairs: ReadonlyArray<readonly [NoisedSet, NoisedSet]>,
  alphaBars: readonly number[],
  sigma2: number,
  o: NoisedMmdOptions = {},
): NoisedMmdResult {
  if (pairs.length === 0) return { mmd2: [], se: [], rowMeans: [] };
  if (!(sigma2 > 0)) throw new Error(`noisedMmd2: sigma2 must be positive, got ${sigma2}`);
  for (const ab of alphaBars) if (!(ab > 0 && ab <= 1)) throw new Error(`noisedMmd2: alpha_bar must lie in (0, 1], got ${ab}`);

  // Distinct matrices and distinct noised sets.
  const mats: Matrix[] = [];
  const matId = new Map<Matrix, number>();
  const reg = (m: Matrix): number => {
    let id = matId.get(m);
    if (id === undefined) {
      id = mats.length;
      matId.set(m, id);
      mats.push(m);
    }
    return id;
  };
  const sets: { a: number; b: number }[] = [];
  const setKey = new Map<string, number>();
  const regSet = (s: NoisedSet): number => {
    const a = reg(s.image);
    const b = reg(s.noise);
    const key = `${a},${b}`;
    let id = setKey.get(key);
    if (id === undefined) {
      id = sets.length;
      setKey.set(key, id);
      sets.push({ a, b });
    }
    return id;
  };
  const pairSets = pairs.map(([u, v]) => [regSet(u), regSet(v)] as const);
  checkSameShape('noisedMmd2', ...mats);
  const n = mats[0]!.rows;
  const D = mats[0]!.cols;
  if (n < 2) throw new Error(`noisedMmd2: need at least 2 rows, got ${n}`);
  const M = mats.length;
  const L = alphaBars.length;
  const inv2s2 = 1 / (2 * sigma2);
  const scales = alphaBars.map((ab) => ({ a: Math.sqrt(ab), s: Math.sqrt(1 - ab) }));

  // Squared norms of every noised row at every level: a^2 |A|^2 + 2as <A,B> + s^2 |B|^2.
  const norms: Float64Array[][] = sets.map(({ a, b }) => {
    const aa = rowDots(mats[a]!, mats[a]!);
    const ab = rowDots(mats[a]!, mats[b]!);
    const bb = rowDots(mats[b]!, mats[b]!);
    return scales.map(({ a: ca, s }) => Float64Array.from(aa, (v, i) => ca * ca * v + 2 * ca * s * ab[i]! + s * s * bb[i]!));
  });

  const sums = pairSets.map(() => new Float64Array(L));
  const rowSums = pairSets.map(() => Array.from({ length: L }, () => new Float64Array(n)));

  const bt = Math.max(1, o.tile ?? TILE);
  const tileLen = bt * bt;
  const cache: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(M * M);
  const pool = Array.from({ length: M * M }, () => new Float64Array(tileLen));
  const kSelf = sets.map(() => new Float64Array(tileLen));
  const kUV = new Float64Array(tileLen);
  const kVU = new Float64Array(tileLen);

  const nTiles = Math.ceil(n / bt);
  const totalTiles = (nTiles * (nTiles + 1)) / 2;
  let doneTiles = 0;

  for (let i0 = 0; i0 < n; i0 += bt) {
    const i1 = Math.min(n, i0 + bt);
    for (let j0 = i0; j0 < n; j0 += bt) {
      const j1 = Math.min(n, j0 + bt);
      const bi = i1 - i0;
      const bj = j1 - j0;
      const diag = i0 === j0;
      cache.fill(undefined);
      const G = (p: number, q: number): Float64Array => {
        const k = p * M + q;
        let g = cache[k];
        if (g === undefined) {
          g = pool[k]!;
          gramTile(mats[p]!.data, mats[q]!.data, D, i0, i1, j0, j1, g);
          cache[k] = g;
        }
        return g;
      };
      // Kernel tile between noised set u (rows i) and noised set v (rows j) at level l.
      const kernelTile = (u: number, v: number, l: number, out: Float64Array): void => {
        const { a: ca, s } = scales[l]!;
        const U = sets[u]!;
        const V = sets[v]!;
        const gAC = G(U.a, V.a);
        const gAE = G(U.a, V.b);
        const gBC = G(U.b, V.a);
        const gBE = G(U.b, V.b);
        const nu = norms[u]![l]!;
        const nv = norms[v]![l]!;
        const c2 = ca * ca;
        const cs = ca * s;
        const s2 = s * s;
        for (let ii = 0; ii < bi; ii++) {
          const ni = nu[i0 + ii]!;
          const r = ii * bj;
          for (let jj = 0; jj < bj; jj++) {
            const t = r + jj;
            const dot = c2 * gAC[t]! + cs * (gAE[t]! + gBC[t]!) + s2 * gBE[t]!;
            const d2 = ni + nv[j0 + jj]! - 2 * dot;
            out[t] = Math.exp(-(d2 > 0 ? d2 : 0) * inv2s2);
          }
        }
      };
      for (let l = 0; l < L; l++) {
        for (let si = 0; si < sets.length; si++) kernelTile(si, si, l, kSelf[si]!);
        for (let p = 0; p < pairSets.length; p++) {
          const [u, v] = pairSets[p]!;
          kernelTile(u, v, l, kUV); // k(u_i, v_j)
          kernelTile(v, u, l, kVU); // k(v_i, u_j) = k(u_j, v_i)
          const ku = kSelf[u]!;
          const kv = kSelf[v]!;
          const rs = rowSums[p]![l]!;
          let total = 0;
          for (let ii = 0; ii < bi; ii++) {
            const i = i0 + ii;
            const r = ii * bj;
            let rowTotal = 0;
            for (let jj = diag ? ii + 1 : 0; jj < bj; jj++) {
              const t = r + jj;
              const h = ku[t]! + kv[t]! - kUV[t]! - kVU[t]!;
              rowTotal += h;
              rs[j0 + jj] += h;
            }
            rs[i] += rowTotal;
            total += rowTotal;
          }
          sums[p]![l] += total;
        }
      }
      doneTiles++;
      o.onProgress?.(doneTiles / totalTiles);
    }
  }

  const pairsCount = (n * (n - 1)) / 2;
  const mmd2 = sums.map((s) => Array.from(s, (v) => v / pairsCount));
  const rowMeans = rowSums.map((perLevel) => perLevel.map((rs) => rs.map((v) => v / (n - 1))));
  const se = rowMeans.map((perLevel) => perLevel.map(uStatisticSe));
  return { mmd2, se, rowMeans };
}
