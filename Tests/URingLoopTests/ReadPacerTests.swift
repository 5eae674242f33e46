// ReadPacer's decisions on their own: when pairs start and stop, and where
// a pass's reads are cut into pairs.
import Testing
import URing
@testable import URingLoop

@Suite struct ReadPacerTests {
    @Test func pairsStartAfterFourDeviceBoundEntersInARow() {
        var pacer = ReadPacer(enabled: true)
        for _ in 1..<ReadPacer.startAt {
            _ = pacer.pushedRead()
            #expect(pacer.measuresNextEnter)
            pacer.entered(completedInline: false)
            #expect(!pacer.isPacing)
        }
        _ = pacer.pushedRead()
        pacer.entered(completedInline: false)
        #expect(pacer.isPacing)
    }

    @Test func entersThatMeasureNothingNeitherCountNorReset() {
        var pacer = ReadPacer(enabled: true)
        for _ in 0..<ReadPacer.startAt - 1 { pacer.entered(completedInline: false) }
        _ = pacer.pushedRead()
        pacer.entered()
        #expect(pacer.readsStaged == 0)
        #expect(!pacer.isPacing)
        pacer.entered(completedInline: false)
        #expect(pacer.isPacing)
        pacer.entered()
        #expect(pacer.isPacing)
    }

    @Test func oneInlineEnterStopsThePairsAndTheCountStartsOver() {
        var pacer = ReadPacer(enabled: true)
        for _ in 0..<10 { pacer.entered(completedInline: false) }
        #expect(pacer.isPacing)
        pacer.entered(completedInline: true)
        #expect(!pacer.isPacing)
        for _ in 1..<ReadPacer.startAt { pacer.entered(completedInline: false) }
        #expect(!pacer.isPacing)
        pacer.entered(completedInline: false)
        #expect(pacer.isPacing)
    }

    @Test func whilePacingEveryPairIsSubmittedAndNoEnterCarriesTwoReadsAmongMore() {
        var pacer = ReadPacer(enabled: true)
        for _ in 0..<ReadPacer.startAt { pacer.entered(completedInline: false) }
        // The first read waits for a partner; the second completes the pair.
        #expect(!pacer.submitsBeforeRead(staged: 0))
        let first = pacer.pushedRead()
        #expect(!first)
        #expect(!pacer.submitsBeforeRead(staged: 1))
        let second = pacer.pushedRead()
        #expect(second)
        pacer.entered(completedInline: false)
        // A read behind another read and some other entry goes in a call of
        // its own after them.
        let alone = pacer.pushedRead()
        #expect(!alone)
        #expect(pacer.submitsBeforeRead(staged: 2))
        pacer.entered(completedInline: false)
        // Other entries alone never force a call.
        #expect(!pacer.submitsBeforeRead(staged: 5))
    }

    @Test func withoutPacingReadsStayInTheKernelsBatch() {
        var pacer = ReadPacer(enabled: true)
        for _ in 0..<8 {
            let submits = pacer.pushedRead()
            #expect(!submits)
            #expect(!pacer.submitsBeforeRead(staged: 8))
        }
        pacer.entered(completedInline: true)
        #expect(pacer.readsStaged == 0)
    }

    @Test func aDisabledPacerNeitherMeasuresNorPaces() {
        var pacer = ReadPacer(enabled: false)
        for _ in 0..<10 {
            let submits = pacer.pushedRead()
            #expect(!submits)
            #expect(!pacer.measuresNextEnter)
            pacer.entered(completedInline: false)
        }
        #expect(!pacer.isPacing)
    }

    @Test func onlyFileReadsArePaced() {
        #expect(ReadPacer.isRead(.read))
        #expect(ReadPacer.isRead(.readv))
        #expect(ReadPacer.isRead(.readFixed))
        #expect(!ReadPacer.isRead(.write))
        #expect(!ReadPacer.isRead(.recv))
        #expect(!ReadPacer.isRead(.nop))
    }
}
