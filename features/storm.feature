@sim-only @scale @storm
Feature: Reconfiguration storms
  When every partition of a node, or of a whole region, changes at once, each
  node reconfigures its partitions one at a time on its single worker: 300
  partitions at 1 second each take 5 minutes, as in SlapOS's own arithmetic,
  and every node of a region works in parallel with the others. The master
  places with first-fit: it fills a computer's 300 partitions before the
  next one's, which the scenarios check before they storm.

  Background:
    Given a person "alice"
    And a software release "hello"
    And configuring a partition takes 1 second

  Scenario: Every partition of a 300-partition node changes at once
    Given a computer "COMP-1" of "alice" with 300 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests 300 instances of "hello" titled "app"
    And the nodes converge within 15 minutes
    And instances "app" 1 to 300 are all allocated on "COMP-1"
    When "alice" changes parameter "generation" of all 300 instances "app" to "2"
    And the nodes converge within 7 minutes
    Then node "COMP-1" configured 300 partitions because "changed"
    And node "COMP-1" configured at most 1 partition at a time
    And node "COMP-1" took at least 299 seconds to configure them
    And all 300 instances "app" are reported started

  Scenario: A quiet hour after a storm costs no reconfiguration
    Given a computer "COMP-1" of "alice" with 300 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests 300 instances of "hello" titled "app"
    And the nodes converge within 15 minutes
    When 1 hour passes
    Then node "COMP-1" configured nothing

  Scenario: Every partition of a region changes at once
    Given 10 computers "COMP-JP-" of "alice" in region "jp" with 300 partitions each, supplied with "hello"
    And "alice" requests 3000 instances of "hello" titled "app" with:
      | sla region | jp |
    And the nodes converge within 20 minutes
    And instances "app" 1 to 300 are all allocated on "COMP-JP-1"
    When "alice" changes parameter "generation" of all 3000 instances "app" to "2"
    And the nodes converge within 7 minutes
    Then every node in region "jp" configured 300 partitions because "changed"
    And no node configured more than 1 partition at a time
    And all 3000 instances "app" are reported started

  Scenario: A storm on one node leaves the other nodes of the region quiet
    Given 3 computers "COMP-JP-" of "alice" in region "jp" with 300 partitions each, supplied with "hello"
    And "alice" requests 900 instances of "hello" titled "app" with:
      | sla region | jp |
    And the nodes converge within 20 minutes
    And instances "app" 1 to 300 are all allocated on "COMP-JP-1"
    When "alice" changes parameter "generation" of all 300 instances "app" to "2"
    And the nodes converge within 7 minutes
    Then node "COMP-JP-1" configured 300 partitions because "changed"
    And node "COMP-JP-2" configured nothing
    And node "COMP-JP-3" configured nothing
