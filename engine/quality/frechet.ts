/**
 * The Fréchet distance between two Gaussians fitted to feature vectors (FID, Heusel et al. 2017, "GANs Trained
 * by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", eq. 6; pytorch-fid's
 * `calculate_frechet_distance`):
 *
 *   d² = ‖μ₁ − μ₂‖² + Tr(C₁ + C₂ − 2 (C₁ C₂)^{1/2})
 *
 * C₁C₂ is not symmetric, but it is similar to S = C₁^{1/2} C₂ C₁^{1/2} (conjugate by C₁^{1/2}), which is
 * symmetric positive semi-definite; so Tr (C₁C₂)^{1/2} = Σ √λᵢ(S). Both C₁^{1/2} and the λᵢ(S) come from
 * symmetric eigen-decompositions (ml-matrix's `EigenvalueDecomposition` with `assumeSymmetric`: Householder
 * tridiagonalisation + implicit QL, JAMA's tred2/tql2, in float64), with round-off negatives clamped to 0.
 * This avoids the general (complex) matrix square root scipy's `sqrtm` needs, and its imaginary residue.
 * Covariances are unbiased (divide by n − 1), as numpy's `np.cov` in pytorch-fid.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Mean and covariance of a set of feature vectors. */
export interface GaussianStats {
  dim: number;
  count: number;
  mean: Float64Array;
  /** dim × dim, row-major. */
  cov: Float64Array;
}

/** Mean and unbiased covariance of `count` row-major vectors of length `dim`. */
export function gaussianStats(features: ArrayLike<number>, count: number, dim: number): GaussianStats {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`gaussianStats: dim must be a positive integer, got ${dim}`);
  if (!Number.isInteger(count) || count < 2) throw new Error(`gaussianStats: need at least 2 vectors for a covariance, got ${count}`);
  if (features.length !== count * dim) throw new Error(`gaussianStats: ${features.length} values are not ${count} vectors of ${dim}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= count;
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) centred[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ca = centred[a];
      if (ca === 0) continue;
      const row = a * dim;
      for (let b = a; b < dim; b++) cov[row + b] += ca * centred[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (count - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { dim, count, mean, cov };
}

function toMatrix(values: Float64Array, dim: number): Matrix {
  const m = new Matrix(dim, dim);
  for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) m.set(i, j, values[i * dim + j]);
  return m;
}

/** (A + Aᵀ)/2: removes round-off asymmetry before a symmetric eigen-decomposition. */
function symmetrised(a: Matrix): Matrix {
  return a.clone().add(a.transpose()).mul(0.5);
}

/** Eigenvalues of a symmetric matrix, round-off negatives clamped to 0 (the matrix is PSD by construction). */
function psdEigenvalues(a: Matrix): number[] {
  return new EigenvalueDecomposition(symmetrised(a), { assumeSymmetric: true }).realEigenvalues.map((l) => Math.max(l, 0));
}

/** The PSD square root V diag(√λ) Vᵀ of a symmetric PSD matrix. */
export function psdSqrt(a: Matrix): Matrix {
  const evd = new EigenvalueDecomposition(symmetrised(a), { assumeSymmetric: true });
  const v = evd.eigenvectorMatrix;
  const roots = evd.realEigenvalues.map((l) => Math.sqrt(Math.max(l, 0)));
  const scaled = v.clone();
  for (let i = 0; i < scaled.rows; i++) for (let j = 0; j < scaled.columns; j++) scaled.set(i, j, scaled.get(i, j) * roots[j]);
  return scaled.mmul(v.transpose());
}

/** Tr (C₁ C₂)^{1/2} = Σ √λᵢ(C₁^{1/2} C₂ C₁^{1/2}) for symmetric PSD C₁, C₂ (row-major dim × dim). */
export function traceSqrtProduct(c1: Float64Array, c2: Float64Array, dim: number): number {
  const root = psdSqrt(toMatrix(c1, dim));
  const s = root.mmul(toMatrix(c2, dim)).mmul(root);
  return psdEigenvalues(s).reduce((sum, l) => sum + Math.sqrt(l), 0);
}

/** The squared Fréchet distance between N(μ₁, C₁) and N(μ₂, C₂). */
export function frechetDistance(a: Pick<GaussianStats, 'dim' | 'mean' | 'cov'>, b: Pick<GaussianStats, 'dim' | 'mean' | 'cov'>): number {
  if (a.dim !== b.dim) throw new Error(`frechetDistance: dimensions differ (${a.dim} vs ${b.dim})`);
  const d = a.dim;
  if (a.mean.length !== d || b.mean.length !== d || a.cov.length !== d * d || b.cov.length !== d * d) {
    throw new Error(`frechetDistance: means must have ${d} values and covariances ${d}×${d}`);
  }
  let meanTerm = 0;
  let traces = 0;
  for (let i = 0; i < d; i++) {
    meanTerm += (a.mean[i] - b.mean[i]) ** 2;
    traces += a.cov[i * d + i] + b.cov[i * d + i];
  }
  const value = meanTerm + traces - 2 * traceSqrtProduct(a.cov, b.cov, d);
  // Round-off can take an exact 0 slightly below; a distance is never negative.
  return Math.max(value, 0);
}
