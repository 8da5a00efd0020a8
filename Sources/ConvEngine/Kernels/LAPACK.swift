import COpenBLAS

/// The engine's LAPACK use: orthonormal matrices for orthogonal weight initialisation.
public enum LAPACK {
    /// Overwrites `a` (`[rows × cols]`, row-major, drawn from a standard normal) with a matrix whose
    /// rows (if rows ≤ cols) or columns (otherwise) are orthonormal, as `torch.nn.init.orthogonal_`
    /// does: QR of the tall orientation, Q's columns signed by diag(R).
    ///
    /// - Throws: `EngineError.invalidArgument` when LAPACK reports a failure.
    public static func orthonormalize(_ a: UnsafeMutablePointer<Float>, rows: Int, cols: Int) throws {
        // Work on the tall matrix T [tallRows × tallCols] with tallRows ≥ tallCols.
        let transposed = rows < cols
        let tallRows = max(rows, cols), tallCols = min(rows, cols)
        var t = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            for j in 0..<cols {
                if transposed { t[j * tallCols + i] = a[i * cols + j] } else { t[i * tallCols + j] = a[i * cols + j] }
            }
        }
        var tau = [Float](repeating: 0, count: tallCols)
        Parallel.prepareOpenBLAS()
        var info = LAPACKE_sgeqrf(
            LAPACK_ROW_MAJOR, Int32(tallRows), Int32(tallCols),
            &t, Int32(tallCols), &tau)
        try require(info == 0, "LAPACKE_sgeqrf failed with info \(info)")
        let signs = (0..<tallCols).map { t[$0 * tallCols + $0] < 0 ? Float(-1) : 1 }
        info = LAPACKE_sorgqr(
            LAPACK_ROW_MAJOR, Int32(tallRows), Int32(tallCols), Int32(tallCols),
            &t, Int32(tallCols), &tau)
        try require(info == 0, "LAPACKE_sorgqr failed with info \(info)")
        for i in 0..<tallRows {
            for j in 0..<tallCols {
                let q = t[i * tallCols + j] * signs[j]
                if transposed { a[j * cols + i] = q } else { a[i * cols + j] = q }
            }
        }
    }
}
